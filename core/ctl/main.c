/* caracalctl entry point (skeleton). */
#include "config.h"

#include <stdio.h>

int main(void)
{
	printf("caracalctl %s\n", PACKAGE_VERSION);
	return 0;
}

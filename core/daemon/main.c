/* caracald entry point (skeleton; filled in by the foundation work). */
#include "config.h"

#include <stdio.h>

int main(void)
{
	printf("caracald %s\n", PACKAGE_VERSION);
	return 0;
}

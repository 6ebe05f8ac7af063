/*
 * loadcheck NAME FILE — run every loader check on one plugin file, with the
 * file's own directory as the plugin directory and the caller's euid trusted.
 * Prints the descriptor on success; exits 1 with the loader's message
 * otherwise. Used by test_install.sh on the out-of-tree example plugin.
 */
#include "config.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/loader.h"

int main(int argc, char **argv)
{
	char dir[PATH_MAX];
	loader_policy policy;
	plugin_registry *reg;
	const caracal_plugin *d;
	caracal_error err = {0};

	if (argc != 3 || strlen(argv[2]) >= sizeof dir) {
		fprintf(stderr, "usage: loadcheck NAME /ABSOLUTE/PATH/NAME.so\n");
		return 2;
	}
	memcpy(dir, argv[2], strlen(argv[2]) + 1);
	policy.plugin_dir = dirname(dir);
	policy.allow_outside_dir = 0;
	policy.trusted_uid = geteuid();
	reg = plugin_registry_new(&policy);
	if (reg == NULL) {
		fprintf(stderr, "loadcheck: out of memory\n");
		return 1;
	}
	d = plugin_registry_load(reg, argv[1], argv[2], &err);
	if (d == NULL) {
		fprintf(stderr, "loadcheck: %s (%d)\n", err.message, err.code);
		plugin_registry_free(reg);
		return 1;
	}
	printf("%s %s: ABI %u.%u (min host minor %u), kinds 0x%x, flags 0x%x\n", d->name,
	       d->version, d->abi_major, d->abi_minor, d->min_host_minor, (unsigned)d->kinds,
	       (unsigned)d->flags);
	plugin_registry_free(reg);
	return 0;
}

/*
 * bench_signer.c — signs N times with one thread context of signer_file and
 * prints signatures per second, to compare with
 *   openssl speed -seconds 3 ecdsap256
 * Both wall-clock and CPU-time rates are printed: openssl speed reports per
 * CPU time unless given -elapsed.
 *
 * usage: bench_signer [-a ES256|EdDSA|RS256|PS256] [-n N] [-t THREADS] [plugin.so]
 * The plugin defaults to $CARACAL_BUILDDIR/plugins/signer_file/.libs/signer_file.so
 * (or ./plugins/...). A throw-away keystore is made under /tmp.
 */
#include "config.h"

#include "config/config.h"
#include "host.h"
#include "util/arena.h"
#include "util/log.h"

#include <caracal/plugin.h>

#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const caracal_plugin *P;
static void *inst;
static long n_signs = 20000;
static char kid[64];

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void *worker(void *arg)
{
	long *failures = arg;
	void *t = NULL;
	caracal_error err = {0};
	caracal_arena *a = arena_new();
	/* A typical JWS signing input: header.payload, ~400 bytes. */
	unsigned char input[400];
	memset(input, 'e', sizeof input);
	if (P->thread_create(inst, &t, &err) != CARACAL_OK) {
		fprintf(stderr, "thread_create: %s\n", err.message);
		*failures = n_signs;
		arena_free(a);
		return NULL;
	}
	for (long i = 0; i < n_signs; i++) {
		caracal_str sig;
		arena_reset(a);
		input[i % sizeof input] ^= 1;
		if (P->signer->sign(t, "bench", kid, input, sizeof input, a, &sig, &err) !=
		    CARACAL_OK)
			(*failures)++;
	}
	P->thread_destroy(inst, t);
	arena_free(a);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *alg = "ES256";
	int threads = 1, opt;
	while ((opt = getopt(argc, argv, "a:n:t:")) != -1) {
		if (opt == 'a')
			alg = optarg;
		else if (opt == 'n')
			n_signs = atol(optarg);
		else if (opt == 't')
			threads = atoi(optarg);
		else {
			fprintf(stderr, "usage: %s [-a alg] [-n N] [-t threads] [plugin.so]\n",
			        argv[0]);
			return 2;
		}
	}
	if (n_signs <= 0 || threads <= 0 || threads > 256)
		return 2;
	char so[4096];
	const char *build = getenv("CARACAL_BUILDDIR");
	if (optind < argc)
		snprintf(so, sizeof so, "%s", argv[optind]);
	else
		snprintf(so, sizeof so, "%s/plugins/signer_file/.libs/signer_file.so",
		         build != NULL ? build : ".");
	void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (P = dlsym(dl, "caracal_plugin_signer_file")) == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", so, dlerror());
		return 1;
	}
	log_set_level(CARACAL_LOG_WARN);
	char dir[] = "/tmp/bench-signer-XXXXXX", kek[128], yaml[512];
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(kek, sizeof kek, "%s/kek", dir);
	FILE *f = fopen(kek, "w");
	if (f == NULL)
		return 1;
	fputs("6f1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4d6\n", f);
	fclose(f);
	chmod(kek, 0600);
	host_set_data_dir(dir);
	snprintf(yaml, sizeof yaml, "keystore: ks\nkek_file: %s\nalgorithm: %s\n", kek, alg);
	caracal_error err = {0};
	config_tree *tree = config_tree_load_buffer("bench.yaml", yaml, strlen(yaml), &err);
	caracal_scope *scope = host_scope_new("signer_file", "bench");
	int rc = tree == NULL ? err.code
	                      : config_validate(config_tree_root(tree), P->config_schema, NULL,
	                                        NULL, NULL, &err);
	if (rc == CARACAL_OK)
		rc =
		    P->instance_create(host_services(), scope, config_tree_root(tree), &inst, &err);
	caracal_arena *a = arena_new();
	caracal_signing_key k = {.size = sizeof k};
	void *t0 = NULL;
	if (rc == CARACAL_OK)
		rc = P->thread_create(inst, &t0, &err);
	if (rc == CARACAL_OK)
		rc = P->signer->current_key(t0, "bench", a, &k, &err);
	if (rc != CARACAL_OK) {
		fprintf(stderr, "setup: %s\n", err.message);
		return 1;
	}
	snprintf(kid, sizeof kid, "%s", k.kid);
	P->thread_destroy(inst, t0);

	pthread_t th[256];
	long failures[256] = {0};
	double t = clock_s(CLOCK_MONOTONIC), cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, &failures[i]);
	long fails = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		fails += failures[i];
	}
	t = clock_s(CLOCK_MONOTONIC) - t;
	cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	double total = (double)n_signs * threads;
	/* openssl speed reports per CPU time unless -elapsed: both are shown. */
	printf("signer_file %s: %d thread(s), %.0f signs: %.0f signs/s wall (%.3fs), "
	       "%.0f signs/s per CPU second (%.1f us CPU/sign)%s\n",
	       alg, threads, total, total / t, t, total / cpu, cpu * 1e6 / total,
	       fails ? " FAILURES" : "");

	arena_free(a);
	P->instance_destroy(inst);
	config_tree_free(tree);
	host_scope_free(scope);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return fails ? 1 : 0;
}

/*
 * test_signer_conformance.c — the signer battery, through dlopen.
 *
 * Loads $CARACAL_BUILDDIR/plugins/signer_file/.libs/signer_file.so (override
 * with CARACAL_SIGNER_PLUGIN=path) and runs it against the core's real host
 * services and config tree (config_tree_load_buffer + config_validate, as
 * the loader does). Every signature is verified here with OpenSSL from the
 * JWKS the plugin publishes (JWK → EVP_PKEY is done independently of the
 * plugin), and every kid is recomputed as an RFC 7638 thumbprint.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "host.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/log.h"

#include <caracal/plugin.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEK_A "6f1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4d6"
#define KEK_B "a83e5c1f7d9b2e4a6c8f0d1b3e5a7c9f2d4b6e8a0c1f3d5b7e9a2c4f6d8b0e1a"
#define T0 INT64_C(1779364800000000)
#define HOUR_US INT64_C(3600000000)

static void *dl;
static const caracal_plugin *P;
static const caracal_signer_ops *S;
static const caracal_host *H;
static caracal_scope *SCOPE;

#define MAX_TREES 8
typedef struct fx {
	char dir[64];
	char ks[96];
	char kek_a[96], kek_b[96];
	const char *alg;
	config_tree *trees[MAX_TREES];
	size_t ntrees;
	void *inst;
	void *t;
	caracal_arena *arena;
} fx;

/* ------------------------------------------------------------ plumbing */

static int group_setup(void **state)
{
	(void)state;
	char path[4096];
	const char *override = getenv("CARACAL_SIGNER_PLUGIN");
	const char *build = getenv("CARACAL_BUILDDIR");
	if (override != NULL)
		snprintf(path, sizeof path, "%s", override);
	else
		snprintf(path, sizeof path, "%s/plugins/signer_file/.libs/signer_file.so",
		         build != NULL ? build : ".");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(dl, "caracal_plugin_signer_file");
	if (P == NULL) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return -1;
	}
	S = P->signer;
	H = host_services();
	SCOPE = host_scope_new("signer_file", "test");
	log_set_level(CARACAL_LOG_WARN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	host_scope_free(SCOPE);
	if (dl != NULL)
		dlclose(dl);
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->alg = *state != NULL ? *state : "ES256";
	strcpy(f->dir, "/tmp/sf-conf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ks, sizeof f->ks, "%s/ks", f->dir);
	snprintf(f->kek_a, sizeof f->kek_a, "%s/kek_a", f->dir);
	snprintf(f->kek_b, sizeof f->kek_b, "%s/kek_b", f->dir);
	write_file(f->kek_a, KEK_A "\n", strlen(KEK_A) + 1, 0600);
	write_file(f->kek_b, KEK_B "\n", strlen(KEK_B) + 1, 0600);
	host_set_data_dir(f->dir);
	clock_set_fixed_now_us(0);
	f->arena = arena_new();
	assert_non_null(f->arena);
	*state = f;
	return 0;
}

static void destroy(fx *f)
{
	if (f->t != NULL)
		P->thread_destroy(f->inst, f->t);
	if (f->inst != NULL)
		P->instance_destroy(f->inst);
	f->t = NULL;
	f->inst = NULL;
}

static int teardown(void **state)
{
	fx *f = *state;
	destroy(f);
	for (size_t i = 0; i < f->ntrees; i++)
		config_tree_free(f->trees[i]);
	arena_free(f->arena);
	clock_set_fixed_now_us(0);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Load and validate yaml against the plugin's schema (as the loader does),
 * then create an instance. The tree lives until teardown. */
static int create_yaml(fx *f, const char *yaml, void **inst, caracal_error *err)
{
	assert_true(f->ntrees < MAX_TREES);
	config_tree *t = config_tree_load_buffer("signer.yaml", yaml, strlen(yaml), err);
	if (t == NULL)
		return err->code;
	f->trees[f->ntrees++] = t;
	const caracal_cfg *root = config_tree_root(t);
	int rc = config_validate(root, P->config_schema, NULL, NULL, NULL, err);
	if (rc != CARACAL_OK)
		return rc;
	return P->instance_create(H, SCOPE, root, inst, err);
}

/* The base config (keystore ks, kek A, the fixture's algorithm) plus extra. */
static int create(fx *f, const char *extra, void **inst, caracal_error *err)
{
	char yaml[4096];
	snprintf(yaml, sizeof yaml, "keystore: ks\nkek_file: %s\nalgorithm: %s\n%s", f->kek_a,
	         f->alg, extra != NULL ? extra : "");
	return create_yaml(f, yaml, inst, err);
}

static void open_main(fx *f, const char *extra)
{
	caracal_error err = {0};
	int rc = create(f, extra, &f->inst, &err);
	if (rc != CARACAL_OK)
		fail_msg("instance_create: %d %s", rc, err.message);
	assert_int_equal(P->thread_create(f->inst, &f->t, &err), CARACAL_OK);
}

static caracal_signing_key current(void *t, const char *zone, caracal_arena *a)
{
	caracal_signing_key k = {.size = sizeof k};
	caracal_error err = {0};
	int rc = S->current_key(t, zone, a, &k, &err);
	if (rc != CARACAL_OK)
		fail_msg("current_key(%s): %d %s", zone, rc, err.message);
	return k;
}

/* ------------------------------------------------------------ JOSE, independently */

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
	int l = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	size_t o = 0;
	for (int i = 0; i < l; i++) {
		char c = out[i];
		if (c == '=')
			break;
		out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[o] = '\0';
	return o;
}

static size_t unb64url(const char *in, unsigned char *out, size_t cap)
{
	char tmp[2048];
	size_t n = strlen(in), o = 0;
	assert_true(n + 4 < sizeof tmp);
	for (size_t i = 0; i < n; i++) {
		assert_true(in[i] != '=' && in[i] != '+' && in[i] != '/');
		tmp[o++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	while (o % 4)
		tmp[o++] = '=';
	tmp[o] = '\0';
	unsigned char buf[1600];
	int l = EVP_DecodeBlock(buf, (unsigned char *)tmp, (int)o);
	assert_true(l >= 0);
	size_t pad = 0;
	while (o > 0 && tmp[o - 1 - pad] == '=')
		pad++;
	size_t len = (size_t)l - pad;
	assert_true(len <= cap);
	memcpy(out, buf, len);
	return len;
}

static void thumbprint(json_t *jwk, char out[64])
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	char canon[2048];
	assert_non_null(kty);
	if (strcmp(kty, "EC") == 0)
		snprintf(canon, sizeof canon,
		         "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		         json_string_value(json_object_get(jwk, "crv")),
		         json_string_value(json_object_get(jwk, "x")),
		         json_string_value(json_object_get(jwk, "y")));
	else if (strcmp(kty, "OKP") == 0)
		snprintf(canon, sizeof canon, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}",
		         json_string_value(json_object_get(jwk, "crv")),
		         json_string_value(json_object_get(jwk, "x")));
	else
		snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
		         json_string_value(json_object_get(jwk, "e")),
		         json_string_value(json_object_get(jwk, "n")));
	unsigned char h[32];
	assert_int_equal(EVP_Digest(canon, strlen(canon), h, NULL, EVP_sha256(), NULL), 1);
	b64url(h, 32, out);
}

static EVP_PKEY *jwk_to_pkey(json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	unsigned char a[600], b[600], pt[65]; /* the builder keeps pointers to them */
	EVP_PKEY *pk = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *c = NULL;
	BIGNUM *n = NULL, *e = NULL;
	assert_non_null(bld);
	if (strcmp(kty, "EC") == 0) {
		assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
		pt[0] = 4;
		assert_int_equal(unb64url(json_string_value(json_object_get(jwk, "x")), pt + 1, 32),
		                 32);
		assert_int_equal(
		    unb64url(json_string_value(json_object_get(jwk, "y")), pt + 33, 32), 32);
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt);
		c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else if (strcmp(kty, "OKP") == 0) {
		assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
		size_t l = unb64url(json_string_value(json_object_get(jwk, "x")), a, sizeof a);
		assert_int_equal(l, 32);
		OSSL_PARAM_BLD_free(bld);
		pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, a, l);
		assert_non_null(pk);
		return pk;
	} else {
		assert_string_equal(kty, "RSA");
		size_t nl = unb64url(json_string_value(json_object_get(jwk, "n")), a, sizeof a);
		size_t el = unb64url(json_string_value(json_object_get(jwk, "e")), b, sizeof b);
		assert_true(a[0] != 0 && b[0] != 0); /* minimal big-endian */
		n = BN_bin2bn(a, (int)nl, NULL);
		e = BN_bin2bn(b, (int)el, NULL);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	}
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(c);
	BN_free(n);
	BN_free(e);
	return pk;
}

static int verify(EVP_PKEY *pk, const char *alg, const unsigned char *msg, size_t len,
                  const unsigned char *sig, size_t sl)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char der[128];
	const unsigned char *s = sig;
	int ok;
	if (strcmp(alg, "EdDSA") == 0) {
		if (sl != 64)
			return 0;
		ok = EVP_DigestVerifyInit(m, NULL, NULL, NULL, pk) == 1;
	} else {
		ok = EVP_DigestVerifyInit(m, &pc, EVP_sha256(), NULL, pk) == 1;
	}
	if (ok && strcmp(alg, "ES256") == 0) {
		if (sl != 64)
			return 0;
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
		unsigned char *p = der;
		sl = (size_t)i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		s = der;
	}
	if (ok && strcmp(alg, "PS256") == 0)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) == 1;
	if (ok && strcmp(alg, "RS256") == 0)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
	ok = ok && EVP_DigestVerify(m, s, sl, msg, len) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

/* The JWKS of zone, parsed (caller json_decref's). */
static json_t *jwks(void *t, const char *zone, caracal_arena *a)
{
	caracal_str js = {0};
	caracal_error err = {0};
	int64_t age = -1;
	int rc = S->jwks(t, zone, a, &js, &age, &err);
	if (rc != CARACAL_OK)
		fail_msg("jwks(%s): %d %s", zone, rc, err.message);
	assert_true(age >= 0);
	json_error_t je;
	json_t *j = json_loadb(js.ptr, js.len, 0, &je);
	if (j == NULL)
		fail_msg("jwks is not JSON: %s: %.*s", je.text, (int)js.len, js.ptr);
	assert_true(json_is_array(json_object_get(j, "keys")));
	assert_int_equal(json_object_size(j), 1);
	return j;
}

static json_t *jwk_of(json_t *set, const char *kid)
{
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(set, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
			return k;
	}
	return NULL;
}

/* Sign msg with (zone, kid) and verify it against the zone's JWKS. */
static int sign_rc(void *t, const char *zone, const char *kid, const char *msg, caracal_arena *a,
                   caracal_str *sig, caracal_error *err)
{
	return S->sign(t, zone, kid, (const unsigned char *)msg, strlen(msg), a, sig, err);
}

static void sign_verify(void *t, const char *zone, const char *kid, const char *alg,
                        const char *msg, caracal_arena *a)
{
	caracal_str sig = {0};
	caracal_error err = {0};
	int rc = sign_rc(t, zone, kid, msg, a, &sig, &err);
	if (rc != CARACAL_OK)
		fail_msg("sign(%s, %s): %d %s", zone, kid, rc, err.message);
	json_t *set = jwks(t, zone, a);
	json_t *k = jwk_of(set, kid);
	assert_non_null(k);
	EVP_PKEY *pk = jwk_to_pkey(k);
	assert_true(verify(pk, alg, (const unsigned char *)msg, strlen(msg),
	                   (const unsigned char *)sig.ptr, sig.len));
	/* A different message does not verify. */
	assert_false(verify(pk, alg, (const unsigned char *)"x", 1, (const unsigned char *)sig.ptr,
	                    sig.len));
	EVP_PKEY_free(pk);
	json_decref(set);
}

static size_t count_lines(const char *path, const char *prefix)
{
	char *text = read_all(path, NULL);
	size_t n = 0, pl = strlen(prefix);
	if (text == NULL)
		return 0;
	for (char *l = text; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncmp(l, prefix, pl) == 0;
	free(text);
	return n;
}

static void zone_path(const fx *f, const char *zone, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s.keys", f->ks, zone);
}

/* ------------------------------------------------------------ tests */

static void test_descriptor(void **state)
{
	(void)state;
	assert_string_equal(P->name, "signer_file");
	assert_int_equal(P->kinds, CARACAL_KIND_SIGNER);
	assert_non_null(S);
	assert_true(S->size >= CARACAL_SIGNER_OPS_MIN_SIZE);
	assert_non_null(S->current_key);
	assert_non_null(S->sign);
	assert_non_null(S->jwks);
	assert_non_null(S->rotate);
	assert_non_null(P->thread_create);
	assert_non_null(P->thread_destroy);
	assert_null(P->audit);
}

/* Per algorithm: create, sign, verify from the JWKS, kid = thumbprint. */
static void test_roundtrip(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	caracal_signing_key k = current(f->t, "zone-a", f->arena);
	caracal_arena *keep = arena_new(); /* f->arena is reset below */
	k.kid = strcpy(H->arena_alloc(keep, 64), k.kid);
	assert_string_equal(k.alg, f->alg);
	assert_int_equal(strlen(k.kid), 43);
	caracal_signing_key k2 = current(f->t, "zone-a", f->arena);
	assert_string_equal(k2.kid, k.kid);

	json_t *set = jwks(f->t, "zone-a", f->arena);
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 1);
	json_t *jwk = jwk_of(set, k.kid);
	assert_non_null(jwk);
	char tp[64];
	thumbprint(jwk, tp);
	assert_string_equal(tp, k.kid);
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")), f->alg);
	assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
	assert_null(json_object_get(jwk, "d"));
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	if (strcmp(f->alg, "ES256") == 0) {
		assert_string_equal(kty, "EC");
		assert_int_equal(strlen(json_string_value(json_object_get(jwk, "x"))), 43);
		assert_int_equal(strlen(json_string_value(json_object_get(jwk, "y"))), 43);
	} else if (strcmp(f->alg, "EdDSA") == 0) {
		assert_string_equal(kty, "OKP");
	} else {
		assert_string_equal(kty, "RSA");
		unsigned char n[600];
		assert_int_equal(
		    unb64url(json_string_value(json_object_get(jwk, "n")), n, sizeof n), 384);
		assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
	}
	json_decref(set);

	sign_verify(f->t, "zone-a", k.kid, f->alg, "eyJhbGciOi.eyJzdWIiOi", f->arena);
	sign_verify(f->t, "zone-a", k.kid, f->alg, "", f->arena);

	/* Many signatures: exercises r/s with leading zero bytes for ES256. */
	EVP_PKEY *pk;
	set = jwks(f->t, "zone-a", f->arena);
	pk = jwk_to_pkey(jwk_of(set, k.kid));
	json_decref(set);
	int rounds = strcmp(f->alg, "ES256") == 0 ? 1500 : 50;
	int short_rs = 0;
	for (int i = 0; i < rounds; i++) {
		char msg[64];
		caracal_str sig;
		caracal_error err = {0};
		snprintf(msg, sizeof msg, "header.payload-%d", i);
		arena_reset(f->arena);
		assert_int_equal(sign_rc(f->t, "zone-a", k.kid, msg, f->arena, &sig, &err),
		                 CARACAL_OK);
		if (strcmp(f->alg, "ES256") == 0) {
			assert_int_equal(sig.len, 64);
			short_rs += sig.ptr[0] == 0 || sig.ptr[32] == 0;
		}
		assert_true(verify(pk, f->alg, (const unsigned char *)msg, strlen(msg),
		                   (const unsigned char *)sig.ptr, sig.len));
	}
	EVP_PKEY_free(pk);
	if (strcmp(f->alg, "ES256") == 0)
		assert_true(short_rs > 0); /* P(none in 1500) ≈ 1e-5 */

	/* The keystore: 0700 dir, 0600 file, one key, no PEM. */
	struct stat st;
	char path[256];
	assert_int_equal(stat(f->ks, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	zone_path(f, "zone-a", path, sizeof path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_lines(path, "key "), 1);
	char *text = read_all(path, NULL);
	assert_null(strstr(text, "PRIVATE"));
	assert_null(strstr(text, "BEGIN"));
	free(text);

	/* A second instance (another process, as far as caches go) sees it. */
	void *i2 = NULL, *t2 = NULL;
	caracal_error err = {0};
	assert_int_equal(create(f, NULL, &i2, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(i2, &t2, &err), CARACAL_OK);
	k2 = current(t2, "zone-a", f->arena);
	assert_string_equal(k2.kid, k.kid);
	sign_verify(t2, "zone-a", k.kid, f->alg, "from another instance", f->arena);
	P->thread_destroy(i2, t2);
	P->instance_destroy(i2);
	arena_free(keep);
}

static void test_rotation(void **state)
{
	fx *f = *state;
	clock_set_fixed_now_us(T0);
	open_main(f, "rotation_grace: 1h\n");
	caracal_signing_key k1 = current(f->t, "z1", f->arena);
	caracal_signing_key k2 = {.size = sizeof k2};
	caracal_error err = {0};
	assert_int_equal(S->rotate(f->t, "z1", f->arena, &k2, &err), CARACAL_OK);
	assert_string_not_equal(k1.kid, k2.kid);
	assert_string_equal(k2.alg, f->alg);
	assert_string_equal(current(f->t, "z1", f->arena).kid, k2.kid);

	/* In grace: both sign, both published, newest first. */
	clock_set_fixed_now_us(T0 + HOUR_US - 1);
	sign_verify(f->t, "z1", k1.kid, f->alg, "old key in grace", f->arena);
	sign_verify(f->t, "z1", k2.kid, f->alg, "new key", f->arena);
	json_t *set = jwks(f->t, "z1", f->arena);
	json_t *keys = json_object_get(set, "keys");
	assert_int_equal(json_array_size(keys), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")),
	                    k2.kid);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")),
	                    k1.kid);
	json_decref(set);

	/* After grace: k1 is gone from the JWKS and CONFLICTs. */
	clock_set_fixed_now_us(T0 + HOUR_US);
	caracal_str sig = {0};
	err = (caracal_error){0};
	assert_int_equal(sign_rc(f->t, "z1", k1.kid, "late", f->arena, &sig, &err),
	                 CARACAL_E_CONFLICT);
	assert_int_equal(err.code, CARACAL_E_CONFLICT);
	set = jwks(f->t, "z1", f->arena);
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 1);
	assert_null(jwk_of(set, k1.kid));
	json_decref(set);
	sign_verify(f->t, "z1", k2.kid, f->alg, "still fine", f->arena);

	/* A kid that never existed CONFLICTs too. */
	assert_int_equal(sign_rc(f->t, "z1", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "x",
	                         f->arena, &sig, &err),
	                 CARACAL_E_CONFLICT);

	/* Another rotation prunes k1 from the file (kept as a retired kid). */
	caracal_signing_key k3 = {.size = sizeof k3};
	assert_int_equal(S->rotate(f->t, "z1", f->arena, &k3, &err), CARACAL_OK);
	char path[256];
	zone_path(f, "z1", path, sizeof path);
	assert_int_equal(count_lines(path, "key "), 2);
	assert_int_equal(count_lines(path, "retired "), 1);
	char *text = read_all(path, NULL);
	assert_non_null(strstr(text, k2.kid));
	free(text);
	/* k2, rotated out by another instance, is still in grace there. */
	void *i2 = NULL, *t2 = NULL;
	assert_int_equal(create(f, "rotation_grace: 1h\n", &i2, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(i2, &t2, &err), CARACAL_OK);
	assert_string_equal(current(t2, "z1", f->arena).kid, k3.kid);
	sign_verify(t2, "z1", k2.kid, f->alg, "k2 in grace", f->arena);
	clock_set_fixed_now_us(T0 + 2 * HOUR_US + 1);
	assert_int_equal(sign_rc(t2, "z1", k2.kid, "k2 late", f->arena, &sig, &err),
	                 CARACAL_E_CONFLICT);
	P->thread_destroy(i2, t2);
	P->instance_destroy(i2);
}

/* A key rotated by another instance is noticed: on an unknown kid at once,
 * by current_key within a second. */
static void test_cross_instance(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	void *i2 = NULL, *t2 = NULL;
	caracal_error err = {0};
	assert_int_equal(create(f, NULL, &i2, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(i2, &t2, &err), CARACAL_OK);
	caracal_signing_key k1 = current(f->t, "shared", f->arena);
	assert_string_equal(current(t2, "shared", f->arena).kid, k1.kid);
	sign_verify(t2, "shared", k1.kid, f->alg, "m", f->arena);
	caracal_signing_key k2 = {.size = sizeof k2};
	assert_int_equal(S->rotate(f->t, "shared", f->arena, &k2, &err), CARACAL_OK);
	sign_verify(t2, "shared", k2.kid, f->alg, "new kid, other instance", f->arena);
	sign_verify(t2, "shared", k1.kid, f->alg, "old kid still in grace", f->arena);
	usleep(1100000);
	assert_string_equal(current(t2, "shared", f->arena).kid, k2.kid);
	P->thread_destroy(i2, t2);
	P->instance_destroy(i2);
}

static void test_jwks_unknown_zone(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	caracal_str js = {0};
	caracal_error err = {0};
	assert_int_equal(S->jwks(f->t, "nobody", f->arena, &js, NULL, &err), CARACAL_E_NOTFOUND);
	assert_int_equal(err.code, CARACAL_E_NOTFOUND);
	char path[256];
	zone_path(f, "nobody", path, sizeof path);
	assert_int_not_equal(access(path, F_OK), 0); /* never creates */
	/* max_age follows jwks_max_age. */
	destroy(f);
	open_main(f, "jwks_max_age: 2m\n");
	current(f->t, "z", f->arena);
	int64_t age = 0;
	assert_int_equal(S->jwks(f->t, "z", f->arena, &js, &age, &err), CARACAL_OK);
	assert_int_equal(age, 120);
}

static void test_generate_false(void **state)
{
	fx *f = *state;
	open_main(f, "generate: false\n");
	caracal_signing_key k = {.size = sizeof k};
	caracal_error err = {0};
	assert_int_equal(S->current_key(f->t, "z", f->arena, &k, &err), CARACAL_E_NOTFOUND);
	char path[256];
	zone_path(f, "z", path, sizeof path);
	assert_int_not_equal(access(path, F_OK), 0);
	/* Keys made elsewhere are used. */
	void *i2 = NULL, *t2 = NULL;
	assert_int_equal(create(f, NULL, &i2, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(i2, &t2, &err), CARACAL_OK);
	caracal_signing_key made = current(t2, "z", f->arena);
	assert_string_equal(current(f->t, "z", f->arena).kid, made.kid);
	P->thread_destroy(i2, t2);
	P->instance_destroy(i2);
}

static void test_invalid_zone_ids(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	char big[200];
	memset(big, 'a', sizeof big);
	big[129] = '\0';
	const char *bad[] = {"", ".hidden", "..", "../etc", "a/b", "a b", "zone\n", "é", big};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		caracal_signing_key k = {.size = sizeof k};
		caracal_error err = {0};
		caracal_str s;
		assert_int_equal(S->current_key(f->t, bad[i], f->arena, &k, &err), CARACAL_E_INVAL);
		assert_int_equal(S->jwks(f->t, bad[i], f->arena, &s, NULL, &err), CARACAL_E_INVAL);
		assert_int_equal(S->rotate(f->t, bad[i], f->arena, &k, &err), CARACAL_E_INVAL);
		assert_int_equal(sign_rc(f->t, bad[i], "abc", "m", f->arena, &s, &err),
		                 CARACAL_E_INVAL);
	}
	big[128] = '\0';
	current(f->t, big, f->arena); /* 128 is fine */
	current(f->t, "Zone_1.2:x@y-z", f->arena);
}

/* Wrong KEK: a clear error, never a signature; kek_previous reads it. */
static void test_wrong_kek(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	caracal_signing_key k = current(f->t, "z", f->arena);
	char kid[64];
	snprintf(kid, sizeof kid, "%s", k.kid);
	destroy(f);

	char yaml[1024];
	void *ib = NULL, *tb = NULL;
	caracal_error err = {0};
	snprintf(yaml, sizeof yaml, "keystore: ks\nkek_file: %s\nalgorithm: %s\n", f->kek_b,
	         f->alg);
	assert_int_equal(create_yaml(f, yaml, &ib, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(ib, &tb, &err), CARACAL_OK);
	caracal_signing_key kb = {.size = sizeof kb};
	err = (caracal_error){0};
	int rc = S->current_key(tb, "z", f->arena, &kb, &err);
	assert_true(rc == CARACAL_E_UNAVAIL || rc == CARACAL_E_INTEGRITY);
	assert_non_null(strstr(err.message, "KEK"));
	assert_null(strstr(err.message, KEK_A));
	assert_null(strstr(err.message, KEK_B));
	caracal_str sig = {0};
	rc = sign_rc(tb, "z", kid, "m", f->arena, &sig, &err);
	assert_true(rc == CARACAL_E_UNAVAIL || rc == CARACAL_E_INTEGRITY);
	assert_null(sig.ptr);
	rc = S->jwks(tb, "z", f->arena, &sig, NULL, &err);
	assert_true(rc == CARACAL_E_UNAVAIL || rc == CARACAL_E_INTEGRITY);
	/* It did not replace the key either. */
	char path[256];
	zone_path(f, "z", path, sizeof path);
	assert_int_equal(count_lines(path, "key "), 1);
	P->thread_destroy(ib, tb);
	P->instance_destroy(ib);

	/* KEK rotation: kek B with kek_previous A opens it; new keys seal under B. */
	snprintf(yaml, sizeof yaml,
	         "keystore: ks\nkek_file: %s\nkek_previous_file: %s\nalgorithm: %s\n", f->kek_b,
	         f->kek_a, f->alg);
	assert_int_equal(create_yaml(f, yaml, &ib, &err), CARACAL_OK);
	assert_int_equal(P->thread_create(ib, &tb, &err), CARACAL_OK);
	assert_string_equal(current(tb, "z", f->arena).kid, kid);
	sign_verify(tb, "z", kid, f->alg, "under kek_previous", f->arena);
	assert_int_equal(S->rotate(tb, "z", f->arena, &kb, &err), CARACAL_OK);
	sign_verify(tb, "z", kb.kid, f->alg, "under kek", f->arena);
	P->thread_destroy(ib, tb);
	P->instance_destroy(ib);
}

/* Flip one character of the sealed blob, or move a zone's file to another
 * zone: INTEGRITY, never a signature. */
static void test_tamper(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	caracal_signing_key k = current(f->t, "za", f->arena);
	char kid[64];
	snprintf(kid, sizeof kid, "%s", k.kid);
	destroy(f);
	char path[256], pathb[256];
	zone_path(f, "za", path, sizeof path);
	size_t len = 0;
	char *text = read_all(path, &len);
	char *orig = strdup(text);

	/* 1. one character of the envelope. */
	char *line = strstr(text, "\nkey ");
	assert_non_null(line);
	char *blob = strrchr(line, ' ') + 1;
	size_t pos = 150; /* inside the value ciphertext */
	blob[pos] = blob[pos] == 'A' ? 'B' : 'A';
	write_file(path, text, len, 0600);
	open_main(f, NULL);
	caracal_signing_key k2 = {.size = sizeof k2};
	caracal_error err = {0};
	assert_int_equal(S->current_key(f->t, "za", f->arena, &k2, &err), CARACAL_E_INTEGRITY);
	caracal_str sig = {0};
	assert_int_equal(sign_rc(f->t, "za", kid, "m", f->arena, &sig, &err), CARACAL_E_INTEGRITY);
	assert_null(sig.ptr);
	destroy(f);

	/* 2. The same sealed key presented as zone zb's. */
	zone_path(f, "zb", pathb, sizeof pathb);
	free(text);
	text = strdup(orig);
	char *zl = strstr(text, "\nzone za\n");
	assert_non_null(zl);
	zl[7] = 'b';
	write_file(pathb, text, len, 0600);
	write_file(path, orig, len, 0600);
	open_main(f, NULL);
	assert_int_equal(S->current_key(f->t, "zb", f->arena, &k2, &err), CARACAL_E_INTEGRITY);
	assert_int_equal(sign_rc(f->t, "zb", kid, "m", f->arena, &sig, &err), CARACAL_E_INTEGRITY);
	/* za itself is intact. */
	sign_verify(f->t, "za", kid, f->alg, "intact", f->arena);
	destroy(f);

	/* 3. A different kid on the line (AAD mismatch). */
	free(text);
	text = strdup(orig);
	char *kl = strstr(text, "\nkey ") + 5;
	kl[0] = kl[0] == 'A' ? 'B' : 'A';
	write_file(path, text, len, 0600);
	open_main(f, NULL);
	assert_int_equal(S->current_key(f->t, "za", f->arena, &k2, &err), CARACAL_E_INTEGRITY);
	destroy(f);

	/* 4. Garbage and truncation. */
	write_file(path, orig, len / 2, 0600);
	open_main(f, NULL);
	assert_int_equal(S->current_key(f->t, "za", f->arena, &k2, &err), CARACAL_E_INTEGRITY);
	assert_int_equal(S->jwks(f->t, "za", f->arena, &sig, NULL, &err), CARACAL_E_INTEGRITY);
	/* A world-writable key file is refused. */
	write_file(path, orig, len, 0666);
	destroy(f);
	open_main(f, NULL);
	assert_int_equal(S->current_key(f->t, "za", f->arena, &k2, &err), CARACAL_E_UNAVAIL);
	free(text);
	free(orig);
}

static int mem_find(const char *hay, size_t n, const unsigned char *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static EVP_PKEY *gen_key(const char *alg)
{
	if (strcmp(alg, "ES256") == 0)
		return EVP_EC_gen("P-256");
	if (strcmp(alg, "EdDSA") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return EVP_RSA_gen(2048);
}

static void write_pem(EVP_PKEY *pk, const char *path, mode_t mode)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

/* Import a PEM key: it becomes current, is sealed (its private bytes are
 * nowhere in the file), and importing again is a no-op. */
static void test_import(void **state)
{
	fx *f = *state;
	EVP_PKEY *pk = gen_key(f->alg);
	assert_non_null(pk);
	char pem[128], extra[512];
	snprintf(pem, sizeof pem, "%s/import.pem", f->dir);
	write_pem(pk, pem, 0600);
	snprintf(extra, sizeof extra, "import:\n  imp: %s\n  rel: import.pem\n", pem);
	open_main(f, extra);
	caracal_signing_key k = current(f->t, "imp", f->arena);
	assert_string_equal(current(f->t, "rel", f->arena).kid, k.kid);

	/* The kid is the thumbprint of the imported public key; signatures
	 * verify with the test's own copy of the key. */
	json_t *set = jwks(f->t, "imp", f->arena);
	char tp[64];
	thumbprint(jwk_of(set, k.kid), tp);
	assert_string_equal(tp, k.kid);
	json_decref(set);
	caracal_str sig = {0};
	caracal_error err = {0};
	assert_int_equal(sign_rc(f->t, "imp", k.kid, "imported", f->arena, &sig, &err), CARACAL_OK);
	assert_true(verify(pk, f->alg, (const unsigned char *)"imported", 8,
	                   (const unsigned char *)sig.ptr, sig.len));

	/* Sealed: the private scalar (raw, hex, base64url) and the PEM body are
	 * not in the keystore file. */
	char path[256];
	zone_path(f, "imp", path, sizeof path);
	size_t len;
	char *text = read_all(path, &len);
	unsigned char priv[512];
	size_t pl = sizeof priv;
	if (strcmp(f->alg, "EdDSA") == 0) {
		assert_int_equal(EVP_PKEY_get_raw_private_key(pk, priv, &pl), 1);
	} else {
		BIGNUM *d = NULL;
		assert_int_equal(EVP_PKEY_get_bn_param(pk,
		                                       strcmp(f->alg, "ES256") == 0
		                                           ? OSSL_PKEY_PARAM_PRIV_KEY
		                                           : OSSL_PKEY_PARAM_RSA_D,
		                                       &d),
		                 1);
		pl = (size_t)BN_bn2bin(d, priv);
		BN_free(d);
	}
	assert_true(pl >= 32);
	assert_false(mem_find(text, len, priv + pl / 2 - 8, 16));
	char enc[1024];
	b64url(priv, 24, enc);
	assert_null(strstr(text, enc));
	for (size_t i = 0; i < 16; i++)
		snprintf(enc + 2 * i, 3, "%02x", priv[i]);
	assert_null(strstr(text, enc));
	char *pemtext = read_all(pem, NULL);
	char *body = strchr(pemtext, '\n') + 1;
	body[40] = '\0';
	assert_null(strstr(text, body));
	free(pemtext);
	free(text);
	assert_int_equal(count_lines(path, "key "), 1);

	/* Start again with the same import: nothing changes. */
	destroy(f);
	open_main(f, extra);
	assert_string_equal(current(f->t, "imp", f->arena).kid, k.kid);
	assert_int_equal(count_lines(path, "key "), 1);

	/* A zone that already had a key: the import becomes current, the old
	 * key goes into grace. */
	caracal_signing_key old = current(f->t, "had", f->arena);
	destroy(f);
	snprintf(extra, sizeof extra, "import:\n  had: %s\n", pem);
	open_main(f, extra);
	assert_string_equal(current(f->t, "had", f->arena).kid, k.kid);
	set = jwks(f->t, "had", f->arena);
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 2);
	assert_non_null(jwk_of(set, old.kid));
	json_decref(set);
	destroy(f);

	/* A group-readable PEM is refused. */
	void *i2 = NULL;
	assert_int_equal(chmod(pem, 0640), 0);
	assert_int_equal(create(f, extra, &i2, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "group"));
	assert_int_equal(chmod(pem, 0600), 0);
	/* A key of another algorithm is refused. */
	EVP_PKEY *other = gen_key(strcmp(f->alg, "EdDSA") == 0 ? "ES256" : "EdDSA");
	write_pem(other, pem, 0600);
	assert_int_equal(create(f, extra, &i2, &err), CARACAL_E_INVAL);
	/* Not a key at all. */
	write_file(pem, "hello\n", 6, 0600);
	assert_int_equal(create(f, extra, &i2, &err), CARACAL_E_INVAL);
	/* A bad zone id. */
	assert_int_equal(create(f, "import:\n  ../x: /dev/null\n", &i2, &err), CARACAL_E_INVAL);
	EVP_PKEY_free(other);
	EVP_PKEY_free(pk);
}

typedef struct race {
	void *inst;
	const char *zone;
	char kid[64];
	int rc;
	pthread_barrier_t *bar;
} race;

static void *race_thread(void *arg)
{
	race *r = arg;
	void *t = NULL;
	caracal_error err = {0};
	caracal_arena *a = arena_new();
	r->rc = P->thread_create(r->inst, &t, &err);
	pthread_barrier_wait(r->bar);
	if (r->rc == CARACAL_OK) {
		caracal_signing_key k = {.size = sizeof k};
		r->rc = S->current_key(t, r->zone, a, &k, &err);
		if (r->rc == CARACAL_OK)
			snprintf(r->kid, sizeof r->kid, "%s", k.kid);
		P->thread_destroy(r->inst, t);
	}
	arena_free(a);
	return NULL;
}

/* 8 threads of one instance, and 3 processes, all asking for a new zone's
 * key at once: exactly one key is created. */
static void test_concurrent_create(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 8);
	race r[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++) {
		r[i] = (race){.inst = f->inst, .zone = "racy", .bar = &bar};
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(r[i].rc, CARACAL_OK);
		assert_string_equal(r[i].kid, r[0].kid);
	}
	char path[256];
	zone_path(f, "racy", path, sizeof path);
	assert_int_equal(count_lines(path, "key "), 1);

	/* Processes: each child creates its own instance and asks at once. */
	int pipes[3][2];
	pid_t pids[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			void *ci = NULL, *ct = NULL;
			caracal_error err = {0};
			caracal_arena *a = arena_new();
			caracal_signing_key k = {.size = sizeof k};
			if (create(f, NULL, &ci, &err) != CARACAL_OK ||
			    P->thread_create(ci, &ct, &err) != CARACAL_OK ||
			    S->current_key(ct, "multi", a, &k, &err) != CARACAL_OK)
				_exit(1);
			if (write(pipes[i][1], k.kid, strlen(k.kid)) != (ssize_t)strlen(k.kid))
				_exit(1);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	caracal_signing_key mine = current(f->t, "multi", f->arena);
	for (int i = 0; i < 3; i++) {
		int st = 0;
		char buf[64] = {0};
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_true(read(pipes[i][0], buf, sizeof buf - 1) > 0);
		close(pipes[i][0]);
		assert_string_equal(buf, mine.kid);
	}
	zone_path(f, "multi", path, sizeof path);
	assert_int_equal(count_lines(path, "key "), 1);
}

/* Signing from several threads at once, each with its own context. */
typedef struct signer_arg {
	void *inst;
	const char *kid;
	const char *alg;
	int ok;
} signer_arg;

static void *sign_thread(void *arg)
{
	signer_arg *s = arg;
	void *t = NULL;
	caracal_error err = {0};
	caracal_arena *a = arena_new();
	s->ok = 0;
	if (P->thread_create(s->inst, &t, &err) != CARACAL_OK)
		return NULL;
	int good = 0;
	for (int i = 0; i < 200; i++) {
		caracal_str sig;
		arena_reset(a);
		good += S->sign(t, "mt", s->kid, (const unsigned char *)"abc", 3, a, &sig, &err) ==
		        CARACAL_OK;
	}
	s->ok = good == 200;
	P->thread_destroy(s->inst, t);
	arena_free(a);
	return NULL;
}

static void test_threads_sign(void **state)
{
	fx *f = *state;
	open_main(f, NULL);
	caracal_signing_key k = current(f->t, "mt", f->arena);
	signer_arg sa[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		sa[i] = (signer_arg){.inst = f->inst, .kid = k.kid, .alg = f->alg};
		assert_int_equal(pthread_create(&th[i], NULL, sign_thread, &sa[i]), 0);
	}
	/* Meanwhile, rotations (the old kid stays valid: default 24h grace). */
	for (int i = 0; i < 3; i++) {
		caracal_signing_key n = {.size = sizeof n};
		caracal_error err = {0};
		assert_int_equal(S->rotate(f->t, "mt", f->arena, &n, &err), CARACAL_OK);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(sa[i].ok);
	}
}

static void test_bad_configs(void **state)
{
	fx *f = *state;
	char yaml[2048], kf[128];
	void *inst = NULL;
	caracal_error err = {0};
	struct {
		const char *kek; /* file content */
		const char *why;
	} weak[] = {
	    {"0000000000000000000000000000000000000000000000000000000000000000", "weak"},
	    {"abababababababababababababababababababababababababababababababab", "weak"},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "weak"},
	    {"1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100", "weak"},
	    {"12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab", "weak"},
	    {"6f1c2a9e4b7d30c58e2f91a4d6b8c0e3", "64 hex"},
	    {KEK_A "00", "64 hex"},
	    {"zz1c2a9e4b7d30c58e2f91a4d6b8c0e37a5f29d1c4e6b8a0f3d5c7e9b1a2c4d6", "hex"},
	};
	snprintf(kf, sizeof kf, "%s/kek_bad", f->dir);
	for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
		write_file(kf, weak[i].kek, strlen(weak[i].kek), 0600);
		snprintf(yaml, sizeof yaml, "keystore: ks\nkek_file: %s\n", kf);
		err = (caracal_error){0};
		assert_int_equal(create_yaml(f, yaml, &inst, &err), CARACAL_E_INVAL);
		assert_non_null(strstr(err.message, weak[i].why));
		assert_null(strstr(err.message, weak[i].kek));
		assert_null(inst);
		for (size_t j = 0; j < f->ntrees; j++)
			config_tree_free(f->trees[j]);
		f->ntrees = 0;
	}
	const char *bad[] = {
	    "keystore: ks\n",                                        /* no kek */
	    "kek_file: KEK\n",                                       /* no keystore */
	    "keystore: ks\nkek_file: KEK\nalgorithm: HS256\n",       /* alg */
	    "keystore: ks\nkek_file: KEK\nalgorithm: es256\n",       /* case */
	    "keystore: ks\nkek_file: KEK\nrotation_grace: soon\n",   /* type */
	    "keystore: ks\nkek_file: KEK\ngenerate: maybe\n",        /* type */
	    "keystore: ks\nkek_file: KEK\nkek_previous_file: KEK\n", /* same */
	    "keystore: ks\nkek_file: KEK\nunknown: 1\n",             /* unknown key */
	    "keystore: ks\nkek_file: KEK\nimport: /x.pem\n",         /* not a map */
	    "keystore: ks\nkek_file: /nonexistent/kek\n",            /* missing file */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *p = yaml;
		for (const char *s = bad[i]; *s;) {
			if (strncmp(s, "KEK", 3) == 0) {
				p += sprintf(p, "%s", f->kek_a);
				s += 3;
			} else {
				*p++ = *s++;
			}
		}
		*p = '\0';
		err = (caracal_error){0};
		inst = NULL;
		int rc = create_yaml(f, yaml, &inst, &err);
		if (rc == CARACAL_OK)
			fail_msg("config %zu accepted:\n%s", i, yaml);
		assert_null(inst);
		for (size_t j = 0; j < f->ntrees; j++)
			config_tree_free(f->trees[j]);
		f->ntrees = 0;
	}
	/* The plugin itself refuses what the validator would have caught. */
	config_tree *t = config_tree_load_buffer("x.yaml", "algorithm: ES256\n", 17, &err);
	assert_non_null(t);
	assert_int_not_equal(P->instance_create(H, SCOPE, config_tree_root(t), &inst, &err),
	                     CARACAL_OK);
	config_tree_free(t);

	/* A group/world-writable keystore is refused. */
	assert_int_equal(mkdir(f->ks, 0700), 0);
	assert_int_equal(chmod(f->ks, 0777), 0);
	assert_int_equal(create(f, NULL, &inst, &err), CARACAL_E_INVAL);
	assert_non_null(strstr(err.message, "writable"));
	assert_int_equal(chmod(f->ks, 0720), 0);
	assert_int_equal(create(f, NULL, &inst, &err), CARACAL_E_INVAL);
	assert_int_equal(chmod(f->ks, 0700), 0);
	assert_int_equal(create(f, NULL, &inst, &err), CARACAL_OK);
	P->instance_destroy(inst);
}

int main(void)
{
	static const char *algs[] = {"ES256", "EdDSA", "RS256", "PS256"};
#define PER_ALG(fn)                                                                         \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)algs[0]),     \
	    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)algs[1]), \
	    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)algs[2]), \
	    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)algs[3])
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    PER_ALG(test_roundtrip),
	    PER_ALG(test_rotation),
	    PER_ALG(test_import),
	    PER_ALG(test_wrong_kek),
	    PER_ALG(test_threads_sign),
	    cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cross_instance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_jwks_unknown_zone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generate_false, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_zone_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
	};
	return cmocka_run_group_tests_name("signer conformance", tests, group_setup,
	                                   group_teardown);
}

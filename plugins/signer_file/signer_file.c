/*
 * signer_file.c — the signer kind over a keystore directory.
 *
 * Keystore (one directory, 0700, never group/world-writable):
 *   <zone>.keys   the zone's keys, newest first (format below), 0600,
 *                 replaced atomically (temp + fsync + rename + fsync dir);
 *   <zone>.lock   flock()ed by whoever changes <zone>.keys (threads and
 *                 processes alike), then the file is re-read before deciding.
 *
 * <zone>.keys is text, one record per line, fields separated by one space:
 *   caracal-signer-keystore 1
 *   zone <zone_id>
 *   generation <n>                       incremented on every write
 *   key <kid> <alg> <created_us> <not_after_us> <base64url CSS1 envelope>
 *   retired <kid> <retired_us>           kids dropped after their grace
 * The first key line is the current key (not_after_us 0); the others sign
 * and stay in the JWKS until not_after_us. The envelope seals the PKCS#8 DER
 * private key with AAD "caracal/signer_file/zoneSigningKey/v1|<zone>|<kid>|<alg>",
 * so a sealed key cannot be moved to another zone, kid or algorithm.
 *
 * Caching: per instance, zone → immutable keyset (decrypted EVP_PKEYs) under
 * a rwlock; an epoch counter changes whenever any keyset does. Each thread
 * context keeps initialised signing contexts per (zone, kid), valid while
 * the epoch is unchanged: the hot path of sign() takes no lock and does no
 * I/O. current_key()/jwks() stat the zone file at most once a second to
 * notice other processes' changes; sign() re-reads on an unknown kid.
 */
#include "signer_file.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SF_MAX_KEYS 64
#define SF_MAX_RETIRED 64
#define SF_FILE_MAX (4u << 20)
#define SF_PEM_MAX (64u << 10)
#define SF_RECHECK_US INT64_C(1000000)
#define SF_LOCK_TIMEOUT_US INT64_C(10000000)
#define SF_TCACHE 16
#define SF_INST_MAGIC 0x5346494eu /* "SFIN" */
#define SF_TCTX_MAGIC 0x53465443u /* "SFTC" */
#define SF_HEADER "caracal-signer-keystore 1"
#define SF_AAD_PURPOSE "caracal/signer_file/zoneSigningKey/v1"

const caracal_cfg_key sf_config_schema[] = {
    {"keystore", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED,
     "directory of sealed zone keys (relative: under data_dir)"},
    {"kek", CARACAL_CFG_SECRET, CARACAL_CFG_REQUIRED,
     "key-encryption key: 64 hex characters (openssl rand -hex 32)"},
    {"kek_previous", CARACAL_CFG_SECRET, 0, "the previous KEK, readable during KEK rotation"},
    {"algorithm", CARACAL_CFG_STRING, 0, "ES256 (default), EdDSA, RS256 or PS256"},
    {"rotation_grace", CARACAL_CFG_DURATION, 0,
     "how long a rotated-out key still signs and stays in the JWKS (default 24h)"},
    {"generate", CARACAL_CFG_BOOL, 0, "create a zone's key on first use (default true)"},
    {"jwks_max_age", CARACAL_CFG_DURATION, 0, "JWKS cache lifetime for verifiers (default 300s)"},
    {"import", CARACAL_CFG_MAP, 0, "zone_id: path of a PEM private key to import at start"},
    {NULL, 0, 0, NULL},
};

/* ------------------------------------------------------------ types */

typedef struct sf_ident {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
} sf_ident;

/* One key line of a zone file. */
typedef struct sf_entry {
	char kid[SF_KID_MAX];
	sf_alg alg;
	int64_t created_us, not_after_us;
	unsigned char *blob;
	size_t blob_len;
} sf_entry;

typedef struct sf_retired {
	char kid[SF_KID_MAX];
	int64_t at_us;
} sf_retired;

typedef struct sf_file {
	uint64_t generation;
	size_t n, nret;
	sf_entry e[SF_MAX_KEYS];
	sf_retired r[SF_MAX_RETIRED];
	sf_ident ident;
} sf_file;

/* A key as cached: decrypted, or the reason it is not. */
typedef struct sf_key {
	char kid[SF_KID_MAX];
	sf_alg alg;
	int64_t created_us, not_after_us;
	EVP_PKEY *pkey; /* NULL: unusable, see rc/msg */
	char *jwk;
	uint64_t serial;
	int rc;
	char msg[CARACAL_ERROR_MESSAGE_MAX];
} sf_key;

typedef struct sf_keyset {
	size_t n;
	sf_key k[]; /* newest first */
} sf_keyset;

typedef struct sf_zone {
	struct sf_zone *next;
	sf_keyset *ks; /* NULL: no file */
	sf_ident ident;
	_Atomic int64_t checked_us; /* monotonic time of the last stat */
	char id[SF_ZONE_MAX + 1];
} sf_zone;

typedef struct sf_inst {
	uint32_t magic;
	const caracal_host *host;
	const caracal_scope *scope;
	OSSL_LIB_CTX *libctx;
	EVP_CIPHER *aead;
	EVP_MD *sha256;
	sf_kek keks[2]; /* [0] kek (seals), [1] kek_previous (opens only) */
	sf_alg alg;
	int generate;
	int64_t grace_us;
	int64_t max_age_s;
	char dir[PATH_MAX];
	int dirfd;

	pthread_rwlock_t lock;   /* zones and their keysets */
	pthread_mutex_t load_mu; /* serialises installs of keysets */
	sf_zone **buckets;
	size_t nbuckets, nzones;
	_Atomic uint64_t epoch;
	_Atomic uint64_t serial;
} sf_inst;

typedef struct sf_tent {
	uint64_t hash, serial, epoch;
	int64_t not_after_us;
	sf_alg alg;
	EVP_PKEY_CTX *pctx; /* ES256/RS256/PS256: initialised for EVP_PKEY_sign */
	EVP_MD_CTX *ed;     /* EdDSA: initialised for EVP_DigestSign with this key */
	int ed_reinit;      /* this OpenSSL wants a re-init (pkey NULL) between signatures */
	int ed_used;
	size_t sig_max;
	char zone[SF_ZONE_MAX + 1];
	char kid[SF_KID_MAX];
} sf_tent;

typedef struct sf_tctx {
	uint32_t magic;
	sf_inst *inst;
	EVP_MD_CTX *md; /* SHA-256 of the input */
	unsigned next;
	sf_tent e[SF_TCACHE];
} sf_tctx;

/* ------------------------------------------------------------ helpers */

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * UINT64_C(1099511628211);
	h = (h ^ 0xff) * UINT64_C(1099511628211);
	for (; *b != '\0'; b++)
		h = (h ^ (unsigned char)*b) * UINT64_C(1099511628211);
	return h;
}

static size_t aad_build(char *out, size_t cap, const char *zone, const char *kid, sf_alg alg)
{
	int n = snprintf(out, cap, "%s|%s|%s|%s", SF_AAD_PURPOSE, zone, kid, sf_alg_name(alg));
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int check_zone(const char *zone, caracal_error *err)
{
	if (!sf_zone_id_valid(zone))
		return caracal_error_set(
		    err, CARACAL_E_INVAL,
		    "invalid zone id (1..128 of [A-Za-z0-9._:@-], not starting "
		    "with '.')");
	return CARACAL_OK;
}

static void ident_of(const struct stat *st, sf_ident *id)
{
	id->exists = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static int ident_eq(const sf_ident *a, const sf_ident *b)
{
	if (a->exists != b->exists)
		return 0;
	if (!a->exists)
		return 1;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
	       a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static void file_clear(sf_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		OPENSSL_free(f->e[i].blob);
	memset(f, 0, sizeof *f);
}

static void file_free(sf_file *f)
{
	if (f == NULL)
		return;
	file_clear(f);
	free(f);
}

static void keyset_free(sf_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->k[i].pkey);
		free(ks->k[i].jwk);
	}
	free(ks);
}

/* ------------------------------------------------------------ zone files */

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int kid_valid(const char *kid)
{
	size_t n = strlen(kid);
	if (n == 0 || n >= SF_KID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = kid[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Split s in place on single spaces into at most max fields. */
static size_t split(char *s, char **fields, size_t max)
{
	size_t n = 0;
	while (n < max) {
		fields[n++] = s;
		char *sp = strchr(s, ' ');
		if (sp == NULL)
			return n;
		*sp = '\0';
		s = sp + 1;
	}
	return max + 1;
}

static int parse_file(const char *zone, char *text, sf_file *f, const char *path,
                      caracal_error *err)
{
	char *line = text;
	unsigned lineno = 0;
	int seen_zone = 0, seen_gen = 0;
	while (*line != '\0') {
		char *nl = strchr(line, '\n');
		if (nl == NULL)
			return caracal_error_set(err, CARACAL_E_INTEGRITY,
			                         "%s: truncated (no final newline)", path);
		*nl = '\0';
		lineno++;
		char *fl[8];
		size_t nf = split(line, fl, 7);
		if (lineno == 1) {
			if (strcmp(fl[0], "caracal-signer-keystore") != 0 || nf != 2 ||
			    strcmp(fl[1], "1") != 0)
				return caracal_error_set(
				    err, CARACAL_E_INTEGRITY,
				    "%s:1: not a signer_file keystore (version 1)", path);
		} else if (strcmp(fl[0], "zone") == 0 && nf == 2 && !seen_zone) {
			if (strcmp(fl[1], zone) != 0)
				return caracal_error_set(err, CARACAL_E_INTEGRITY,
				                         "%s:%u: the file belongs to another zone",
				                         path, lineno);
			seen_zone = 1;
		} else if (strcmp(fl[0], "generation") == 0 && nf == 2 && !seen_gen) {
			int64_t g;
			if (parse_i64(fl[1], &g) != 0)
				goto bad;
			f->generation = (uint64_t)g;
			seen_gen = 1;
		} else if (strcmp(fl[0], "key") == 0 && nf == 6) {
			if (f->n >= SF_MAX_KEYS)
				return caracal_error_set(err, CARACAL_E_INTEGRITY,
				                         "%s:%u: more than %d keys", path, lineno,
				                         SF_MAX_KEYS);
			sf_entry *e = &f->e[f->n];
			if (!kid_valid(fl[1]) || sf_alg_parse(fl[2], &e->alg) != 0 ||
			    parse_i64(fl[3], &e->created_us) != 0 ||
			    parse_i64(fl[4], &e->not_after_us) != 0)
				goto bad;
			if ((f->n == 0) != (e->not_after_us == 0))
				goto bad; /* exactly the first key is current */
			snprintf(e->kid, sizeof e->kid, "%s", fl[1]);
			size_t bl = strlen(fl[5]);
			e->blob = OPENSSL_malloc(bl * 3 / 4 + 3);
			if (e->blob == NULL)
				return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
			long dl = sf_b64url_decode(fl[5], bl, e->blob, bl * 3 / 4 + 3);
			if (dl < 0) {
				OPENSSL_free(e->blob);
				e->blob = NULL;
				goto bad;
			}
			e->blob_len = (size_t)dl;
			f->n++;
		} else if (strcmp(fl[0], "retired") == 0 && nf == 3) {
			if (f->nret < SF_MAX_RETIRED) {
				sf_retired *r = &f->r[f->nret];
				if (!kid_valid(fl[1]) || parse_i64(fl[2], &r->at_us) != 0)
					goto bad;
				snprintf(r->kid, sizeof r->kid, "%s", fl[1]);
				f->nret++;
			}
		} else {
			goto bad;
		}
		line = nl + 1;
	}
	if (!seen_zone || !seen_gen || f->n == 0)
		return caracal_error_set(err, CARACAL_E_INTEGRITY,
		                         "%s: incomplete (zone, generation or keys missing)", path);
	return CARACAL_OK;
bad:
	return caracal_error_set(err, CARACAL_E_INTEGRITY, "%s:%u: malformed line", path, lineno);
}

static void zone_name(char *out, size_t cap, const char *zone, const char *suffix)
{
	snprintf(out, cap, "%s%s", zone, suffix);
}

/* Read <zone>.keys. *f is NULL with OK when the file does not exist. */
static int read_file(sf_inst *in, const char *zone, sf_file **out, caracal_error *err)
{
	char name[SF_ZONE_MAX + 16];
	*out = NULL;
	zone_name(name, sizeof name, zone, ".keys");
	int fd = openat(in->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CARACAL_OK;
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: cannot open: %s", in->dir,
		                         name, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: not a regular file",
		                         in->dir, name);
	}
	if (st.st_mode & 022) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "%s/%s: group or world-writable (mode %04o); refusing it",
		                         in->dir, name, (unsigned)(st.st_mode & 07777));
	}
	if ((uint64_t)st.st_size > SF_FILE_MAX) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_INTEGRITY, "%s/%s: larger than %u bytes",
		                         in->dir, name, SF_FILE_MAX);
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	sf_file *f = calloc(1, sizeof *f);
	if (buf == NULL || f == NULL) {
		close(fd);
		free(buf);
		free(f);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(buf);
			free(f);
			return caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: read failed: %s",
			                         in->dir, name, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	char path[PATH_MAX + SF_ZONE_MAX + 16];
	snprintf(path, sizeof path, "%s/%s", in->dir, name);
	int rc = strlen(buf) != len
	             ? caracal_error_set(err, CARACAL_E_INTEGRITY, "%s: NUL byte", path)
	             : parse_file(zone, buf, f, path, err);
	free(buf);
	if (rc != CARACAL_OK) {
		file_free(f);
		return rc;
	}
	ident_of(&st, &f->ident);
	*out = f;
	return CARACAL_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replace <zone>.keys with f (caller holds the zone lock). */
static int write_file(sf_inst *in, const char *zone, sf_file *f, caracal_error *err)
{
	size_t cap = 256;
	for (size_t i = 0; i < f->n; i++)
		cap += 128 + f->e[i].blob_len * 4 / 3 + 4;
	cap += f->nret * (SF_KID_MAX + 32);
	char *buf = malloc(cap);
	if (buf == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	size_t len = (size_t)snprintf(buf, cap, SF_HEADER "\nzone %s\ngeneration %llu\n", zone,
	                              (unsigned long long)f->generation);
	for (size_t i = 0; i < f->n; i++) {
		const sf_entry *e = &f->e[i];
		len += (size_t)snprintf(buf + len, cap - len, "key %s %s %lld %lld ", e->kid,
		                        sf_alg_name(e->alg), (long long)e->created_us,
		                        (long long)e->not_after_us);
		len += sf_b64url_encode(e->blob, e->blob_len, buf + len);
		buf[len++] = '\n';
	}
	for (size_t i = 0; i < f->nret; i++)
		len += (size_t)snprintf(buf + len, cap - len, "retired %s %lld\n", f->r[i].kid,
		                        (long long)f->r[i].at_us);

	char tmp[SF_ZONE_MAX + 16], name[SF_ZONE_MAX + 16];
	zone_name(tmp, sizeof tmp, zone, ".keys.tmp");
	zone_name(name, sizeof name, zone, ".keys");
	int fd =
	    openat(in->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc = CARACAL_OK;
	struct stat st;
	if (fd < 0 || fchmod(fd, 0600) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0 ||
	    fstat(fd, &st) != 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: write failed: %s", in->dir,
		                       tmp, strerror(errno));
		if (fd >= 0)
			unlinkat(in->dirfd, tmp, 0);
	} else if (renameat(in->dirfd, tmp, in->dirfd, name) != 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: rename failed: %s", in->dir,
		                       name, strerror(errno));
		unlinkat(in->dirfd, tmp, 0);
	} else if (fsync(in->dirfd) != 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "%s: fsync failed: %s", in->dir,
		                       strerror(errno));
	} else {
		ident_of(&st, &f->ident);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* flock <zone>.lock, bounded in time. Returns the fd or -1 with err set. */
static int zone_lock(sf_inst *in, const char *zone, caracal_error *err)
{
	char name[SF_ZONE_MAX + 16];
	zone_name(name, sizeof name, zone, ".lock");
	int fd = openat(in->dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: cannot open: %s", in->dir, name,
		                  strerror(errno));
		return -1;
	}
	int64_t deadline = in->host->monotonic_us() + SF_LOCK_TIMEOUT_US;
	long sleep_ns = 200000;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: flock failed: %s",
			                  in->dir, name, strerror(errno));
			close(fd);
			return -1;
		}
		if (in->host->monotonic_us() > deadline) {
			caracal_error_set(err, CARACAL_E_TIMEOUT,
			                  "%s/%s: still locked by another writer after %llds",
			                  in->dir, name, (long long)(SF_LOCK_TIMEOUT_US / 1000000));
			close(fd);
			return -1;
		}
		struct timespec ts = {0, sleep_ns};
		nanosleep(&ts, NULL);
		if (sleep_ns < 10000000)
			sleep_ns *= 2;
	}
	return fd;
}

static void zone_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* ------------------------------------------------------------ keysets */

static sf_zone *zone_find(sf_inst *in, const char *zone)
{
	if (in->nbuckets == 0)
		return NULL;
	size_t b = hash2(zone, "") & (in->nbuckets - 1);
	for (sf_zone *z = in->buckets[b]; z != NULL; z = z->next)
		if (strcmp(z->id, zone) == 0)
			return z;
	return NULL;
}

/* Caller holds the write lock. */
static sf_zone *zone_get(sf_inst *in, const char *zone)
{
	sf_zone *z = zone_find(in, zone);
	if (z != NULL)
		return z;
	if (in->nzones + 1 > in->nbuckets) {
		size_t nb = in->nbuckets ? in->nbuckets * 2 : 64;
		sf_zone **bk = calloc(nb, sizeof *bk);
		if (bk == NULL)
			return NULL;
		for (size_t i = 0; i < in->nbuckets; i++) {
			for (sf_zone *x = in->buckets[i], *nx; x != NULL; x = nx) {
				nx = x->next;
				size_t b = hash2(x->id, "") & (nb - 1);
				x->next = bk[b];
				bk[b] = x;
			}
		}
		free(in->buckets);
		in->buckets = bk;
		in->nbuckets = nb;
	}
	z = calloc(1, sizeof *z);
	if (z == NULL)
		return NULL;
	snprintf(z->id, sizeof z->id, "%s", zone);
	size_t b = hash2(zone, "") & (in->nbuckets - 1);
	z->next = in->buckets[b];
	in->buckets[b] = z;
	in->nzones++;
	return z;
}

/* Decrypt one entry into k. */
static void key_open(sf_inst *in, const char *zone, const sf_entry *e, sf_key *k)
{
	caracal_error err = {0};
	char aad[512];
	unsigned char *der = NULL;
	size_t der_len = 0;
	size_t al = aad_build(aad, sizeof aad, zone, e->kid, e->alg);
	int rc = sf_open(in->aead, in->keks, 2, (const unsigned char *)aad, al, e->blob,
	                 e->blob_len, &der, &der_len, &err);
	EVP_PKEY *pk = NULL;
	if (rc == CARACAL_OK)
		rc = sf_key_from_der(in->libctx, der, der_len, &pk, &err);
	if (der != NULL)
		OPENSSL_clear_free(der, der_len);
	if (rc == CARACAL_OK)
		rc = sf_key_check(pk, e->alg, &err);
	char kid[SF_KID_MAX];
	if (rc == CARACAL_OK)
		rc = sf_key_describe(in->libctx, pk, e->alg, kid, &k->jwk, &err);
	if (rc == CARACAL_OK && strcmp(kid, e->kid) != 0)
		rc = caracal_error_set(&err, CARACAL_E_INTEGRITY,
		                       "the sealed key's thumbprint is not its kid");
	if (rc != CARACAL_OK) {
		EVP_PKEY_free(pk);
		free(k->jwk);
		k->jwk = NULL;
		k->rc = rc;
		if (snprintf(k->msg, sizeof k->msg, "zone %s key %s: %s", zone, e->kid,
		             err.message) < 0)
			k->msg[0] = '\0';
		in->host->log(in->scope, CARACAL_LOG_ERROR, "%s", k->msg);
		in->host->metric_count(in->scope, "key_unusable", NULL, 1);
		return;
	}
	k->pkey = pk;
	k->serial = atomic_fetch_add(&in->serial, 1) + 1;
}

/* Build a keyset from f, reusing the decrypted keys of old. Caller holds
 * load_mu (so old cannot be freed underneath). */
static sf_keyset *keyset_build(sf_inst *in, const char *zone, const sf_file *f,
                               const sf_keyset *old)
{
	sf_keyset *ks = calloc(1, sizeof *ks + f->n * sizeof(sf_key));
	if (ks == NULL)
		return NULL;
	ks->n = f->n;
	for (size_t i = 0; i < f->n; i++) {
		const sf_entry *e = &f->e[i];
		sf_key *k = &ks->k[i];
		snprintf(k->kid, sizeof k->kid, "%s", e->kid);
		k->alg = e->alg;
		k->created_us = e->created_us;
		k->not_after_us = e->not_after_us;
		const sf_key *o = NULL;
		for (size_t j = 0; old != NULL && j < old->n; j++)
			if (old->k[j].pkey != NULL && old->k[j].alg == e->alg &&
			    strcmp(old->k[j].kid, e->kid) == 0)
				o = &old->k[j];
		if (o != NULL && (k->jwk = strdup(o->jwk)) != NULL) {
			EVP_PKEY_up_ref(o->pkey);
			k->pkey = o->pkey;
			k->serial = o->serial;
		} else {
			key_open(in, zone, e, k);
		}
	}
	return ks;
}

/* Install ks (may be NULL: no file) as zone's keyset. Caller holds load_mu. */
static int keyset_install(sf_inst *in, const char *zone, sf_keyset *ks, const sf_ident *id,
                          caracal_error *err)
{
	pthread_rwlock_wrlock(&in->lock);
	sf_zone *z = zone_get(in, zone);
	if (z == NULL) {
		pthread_rwlock_unlock(&in->lock);
		keyset_free(ks);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	sf_keyset *old = z->ks;
	z->ks = ks;
	z->ident = *id;
	atomic_store(&z->checked_us, in->host->monotonic_us());
	atomic_fetch_add_explicit(&in->epoch, 1, memory_order_release);
	pthread_rwlock_unlock(&in->lock);
	keyset_free(old);
	return CARACAL_OK;
}

/* Re-read the zone file when it changed (or always when force). */
static int zone_refresh(sf_inst *in, const char *zone, int force, caracal_error *err)
{
	char name[SF_ZONE_MAX + 16];
	zone_name(name, sizeof name, zone, ".keys");
	pthread_mutex_lock(&in->load_mu);
	sf_zone *z;
	pthread_rwlock_rdlock(&in->lock);
	z = zone_find(in, zone);
	pthread_rwlock_unlock(&in->lock);
	int64_t now = in->host->monotonic_us();
	if (z != NULL && !force && now - atomic_load(&z->checked_us) < SF_RECHECK_US) {
		pthread_mutex_unlock(&in->load_mu); /* another thread just did it */
		return CARACAL_OK;
	}
	struct stat st;
	sf_ident id = {0};
	if (fstatat(in->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		ident_of(&st, &id);
	else if (errno != ENOENT) {
		pthread_mutex_unlock(&in->load_mu);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "%s/%s: %s", in->dir, name,
		                         strerror(errno));
	}
	if (z != NULL && ident_eq(&z->ident, &id)) {
		atomic_store(&z->checked_us, now);
		pthread_mutex_unlock(&in->load_mu);
		return CARACAL_OK;
	}
	if (z == NULL && !id.exists) {
		pthread_mutex_unlock(&in->load_mu); /* unknown zone: cache nothing */
		return CARACAL_OK;
	}
	sf_file *f = NULL;
	int rc = read_file(in, zone, &f, err);
	if (rc != CARACAL_OK) {
		pthread_mutex_unlock(&in->load_mu);
		return rc;
	}
	sf_keyset *ks = NULL;
	sf_ident fid = {0};
	if (f != NULL) {
		ks = keyset_build(in, zone, f, z != NULL ? z->ks : NULL);
		fid = f->ident;
		file_free(f);
		if (ks == NULL) {
			pthread_mutex_unlock(&in->load_mu);
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		}
	}
	rc = keyset_install(in, zone, ks, &fid, err);
	pthread_mutex_unlock(&in->load_mu);
	return rc;
}

/* ------------------------------------------------------------ writers */

typedef enum sf_change { SF_CREATE, SF_ROTATE, SF_IMPORT } sf_change;

/* Move keys past their grace to the retired list; make room for one more. */
static void prune(sf_file *f, int64_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < f->n; i++) {
		sf_entry *e = &f->e[i];
		int drop = (e->not_after_us != 0 && e->not_after_us <= now) ||
		           (i == f->n - 1 && f->n >= SF_MAX_KEYS && i > 0);
		if (!drop) {
			f->e[w++] = *e;
			continue;
		}
		if (f->nret == SF_MAX_RETIRED) {
			memmove(&f->r[0], &f->r[1], (SF_MAX_RETIRED - 1) * sizeof f->r[0]);
			f->nret--;
		}
		snprintf(f->r[f->nret].kid, sizeof f->r[0].kid, "%s", e->kid);
		f->r[f->nret++].at_us = now;
		OPENSSL_free(e->blob);
	}
	f->n = w;
}

/* Change a zone's keys under its lock: create the first key, rotate, or
 * import pkey. The file is re-read under the lock before deciding. */
static int zone_change(sf_inst *in, const char *zone, sf_change what, EVP_PKEY *import,
                       caracal_error *err)
{
	int lockfd = zone_lock(in, zone, err);
	if (lockfd < 0)
		return err != NULL ? err->code : CARACAL_E_UNAVAIL;
	sf_file *f = NULL;
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL, *blob = NULL;
	size_t der_len = 0, blob_len = 0;
	int write = 1;
	int rc = read_file(in, zone, &f, err);
	if (rc != CARACAL_OK)
		goto out;
	if (f == NULL && (f = calloc(1, sizeof *f)) == NULL) {
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		goto out;
	}
	int64_t now = in->host->now_us();
	char kid[SF_KID_MAX];
	sf_alg alg = in->alg;
	if (what == SF_CREATE && f->n > 0) {
		write = 0; /* another thread or process made it first */
	} else if (what == SF_IMPORT) {
		pk = import;
		EVP_PKEY_up_ref(pk);
		if ((rc = sf_key_describe(in->libctx, pk, alg, kid, NULL, err)) != CARACAL_OK)
			goto out;
		for (size_t i = 0; i < f->n && write; i++)
			if (strcmp(f->e[i].kid, kid) == 0)
				write = 0;
		for (size_t i = 0; i < f->nret && write; i++) {
			if (strcmp(f->r[i].kid, kid) == 0) {
				in->host->log(
				    in->scope, CARACAL_LOG_WARN,
				    "import for zone %s: key %s was already rotated out and "
				    "retired; not importing it again (remove it from 'import')",
				    zone, kid);
				write = 0;
			}
		}
		if (write)
			in->host->log(in->scope, CARACAL_LOG_INFO,
			              "zone %s: imported key %s as the current key", zone, kid);
	} else if ((rc = sf_key_generate(in->libctx, alg, &pk, err)) != CARACAL_OK ||
	           (rc = sf_key_describe(in->libctx, pk, alg, kid, NULL, err)) != CARACAL_OK) {
		goto out;
	}
	if (write) {
		char aad[512];
		size_t al = aad_build(aad, sizeof aad, zone, kid, alg);
		if ((rc = sf_key_to_der(pk, &der, &der_len, err)) != CARACAL_OK ||
		    (rc = sf_seal(in->libctx, in->aead, &in->keks[0], (const unsigned char *)aad,
		                  al, der, der_len, &blob, &blob_len, err)) != CARACAL_OK)
			goto out;
		if (f->n > 0 && f->e[0].not_after_us == 0)
			f->e[0].not_after_us =
			    now + in->grace_us > now ? now + in->grace_us : now + 1;
		prune(f, now);
		memmove(&f->e[1], &f->e[0], f->n * sizeof f->e[0]);
		sf_entry *e = &f->e[0];
		memset(e, 0, sizeof *e);
		snprintf(e->kid, sizeof e->kid, "%s", kid);
		e->alg = alg;
		e->created_us = now;
		e->blob = blob;
		e->blob_len = blob_len;
		blob = NULL;
		f->n++;
		f->generation++;
		if ((rc = write_file(in, zone, f, err)) != CARACAL_OK)
			goto out;
		in->host->metric_count(in->scope,
		                       what == SF_ROTATE ? "keys_rotated" : "keys_created",
		                       sf_alg_name(alg), 1);
		if (what != SF_IMPORT)
			in->host->log(in->scope, CARACAL_LOG_INFO, "zone %s: new %s key %s%s", zone,
			              sf_alg_name(alg), kid,
			              what == SF_ROTATE ? " (rotation)" : "");
	}
	/* Install what is now on disk. */
	pthread_mutex_lock(&in->load_mu);
	pthread_rwlock_rdlock(&in->lock);
	sf_zone *z = zone_find(in, zone);
	pthread_rwlock_unlock(&in->lock);
	sf_keyset *ks = keyset_build(in, zone, f, z != NULL ? z->ks : NULL);
	if (ks == NULL)
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	else
		rc = keyset_install(in, zone, ks, &f->ident, err);
	pthread_mutex_unlock(&in->load_mu);
out:
	zone_unlock(lockfd);
	if (der != NULL)
		OPENSSL_clear_free(der, der_len);
	OPENSSL_free(blob);
	EVP_PKEY_free(pk);
	file_free(f);
	return rc;
}

/* ------------------------------------------------------------ lookups */

/* Copy the zone's current key into out. NOTFOUND when it has none. */
static int current_copy(sf_inst *in, const char *zone, caracal_arena *arena,
                        caracal_signing_key *out, int *stale, caracal_error *err)
{
	int rc;
	pthread_rwlock_rdlock(&in->lock);
	sf_zone *z = zone_find(in, zone);
	if (z == NULL || z->ks == NULL || z->ks->n == 0) {
		*stale = 1;
		pthread_rwlock_unlock(&in->lock);
		return CARACAL_E_NOTFOUND;
	}
	*stale = in->host->monotonic_us() - atomic_load(&z->checked_us) >= SF_RECHECK_US;
	const sf_key *k = &z->ks->k[0];
	if (k->pkey == NULL) {
		rc = caracal_error_set(err, k->rc, "%s", k->msg);
	} else {
		out->alg = sf_alg_name(k->alg);
		out->kid = in->host->arena_strndup(arena, k->kid, strlen(k->kid));
		rc = out->kid != NULL ? CARACAL_OK
		                      : caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	pthread_rwlock_unlock(&in->lock);
	return rc;
}

static int check_out(caracal_signing_key *out, caracal_error *err)
{
	if (out == NULL || out->size < offsetof(caracal_signing_key, kid) + sizeof out->kid)
		return caracal_error_set(err, CARACAL_E_INVAL, "caracal_signing_key too small");
	return CARACAL_OK;
}

static sf_inst *inst_of(void *tctx)
{
	sf_tctx *t = tctx;
	if (t == NULL)
		return NULL;
	if (t->magic == SF_TCTX_MAGIC)
		return t->inst;
	if (t->magic == SF_INST_MAGIC)
		return tctx;
	return NULL;
}

static int sf_current_key(void *tctx, const char *zone, caracal_arena *arena,
                          caracal_signing_key *out, caracal_error *err)
{
	sf_inst *in = inst_of(tctx);
	int rc, stale = 0;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "not a signer_file context");
	if ((rc = check_zone(zone, err)) != CARACAL_OK || (rc = check_out(out, err)) != CARACAL_OK)
		return rc;
	rc = current_copy(in, zone, arena, out, &stale, err);
	if (!stale)
		return rc;
	if ((rc = zone_refresh(in, zone, 0, err)) != CARACAL_OK)
		return rc;
	rc = current_copy(in, zone, arena, out, &stale, err);
	if (rc != CARACAL_E_NOTFOUND)
		return rc;
	if (!in->generate)
		return caracal_error_set(err, CARACAL_E_NOTFOUND,
		                         "zone %s has no signing key (generate is off)", zone);
	if ((rc = zone_change(in, zone, SF_CREATE, NULL, err)) != CARACAL_OK)
		return rc;
	rc = current_copy(in, zone, arena, out, &stale, err);
	if (rc == CARACAL_E_NOTFOUND)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "zone %s: key vanished", zone);
	return rc;
}

static int sf_rotate(void *tctx, const char *zone, caracal_arena *arena, caracal_signing_key *out,
                     caracal_error *err)
{
	sf_inst *in = inst_of(tctx);
	int rc, stale = 0;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "not a signer_file context");
	if ((rc = check_zone(zone, err)) != CARACAL_OK || (rc = check_out(out, err)) != CARACAL_OK)
		return rc;
	if ((rc = zone_change(in, zone, SF_ROTATE, NULL, err)) != CARACAL_OK)
		return rc;
	return current_copy(in, zone, arena, out, &stale, err);
}

static int sf_jwks(void *tctx, const char *zone, caracal_arena *arena, caracal_str *json,
                   int64_t *max_age_s, caracal_error *err)
{
	sf_inst *in = inst_of(tctx);
	int rc, stale = 1;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "not a signer_file context");
	if ((rc = check_zone(zone, err)) != CARACAL_OK)
		return rc;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && (rc = zone_refresh(in, zone, 0, err)) != CARACAL_OK)
			return rc;
		pthread_rwlock_rdlock(&in->lock);
		sf_zone *z = zone_find(in, zone);
		if (z != NULL)
			stale =
			    in->host->monotonic_us() - atomic_load(&z->checked_us) >= SF_RECHECK_US;
		if (stale && pass == 0) {
			pthread_rwlock_unlock(&in->lock);
			continue;
		}
		if (z == NULL || z->ks == NULL || z->ks->n == 0) {
			pthread_rwlock_unlock(&in->lock);
			return caracal_error_set(err, CARACAL_E_NOTFOUND, "zone %s has no key",
			                         zone);
		}
		int64_t now = in->host->now_us();
		size_t len = 16, used = 0;
		for (size_t i = 0; i < z->ks->n; i++)
			if (z->ks->k[i].jwk != NULL)
				len += strlen(z->ks->k[i].jwk) + 1;
		char *p = in->host->arena_alloc(arena, len);
		if (p == NULL) {
			pthread_rwlock_unlock(&in->lock);
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		}
		size_t o = (size_t)snprintf(p, len, "{\"keys\":[");
		for (size_t i = 0; i < z->ks->n; i++) {
			const sf_key *k = &z->ks->k[i];
			if (k->pkey == NULL || (k->not_after_us != 0 && k->not_after_us <= now))
				continue;
			o += (size_t)snprintf(p + o, len - o, "%s%s", used ? "," : "", k->jwk);
			used++;
		}
		o += (size_t)snprintf(p + o, len - o, "]}");
		rc = CARACAL_OK;
		if (used == 0) {
			const sf_key *k = &z->ks->k[0];
			rc = k->pkey == NULL ? caracal_error_set(err, k->rc, "%s", k->msg)
			                     : caracal_error_set(err, CARACAL_E_INTERNAL,
			                                         "zone %s: no usable key", zone);
		}
		pthread_rwlock_unlock(&in->lock);
		if (rc != CARACAL_OK)
			return rc;
		json->ptr = p;
		json->len = o;
		if (max_age_s != NULL)
			*max_age_s = in->max_age_s;
		return CARACAL_OK;
	}
	return caracal_error_set(err, CARACAL_E_INTERNAL, "unreachable");
}

/* ------------------------------------------------------------ signing */

static void tent_clear(sf_tent *e)
{
	EVP_PKEY_CTX_free(e->pctx);
	EVP_MD_CTX_free(e->ed);
	memset(e, 0, sizeof *e);
}

static int tent_init(sf_inst *in, sf_tent *e, EVP_PKEY *pkey, sf_alg alg)
{
	e->alg = alg;
	e->sig_max = (size_t)EVP_PKEY_get_size(pkey);
	if (alg == SF_ALG_EDDSA) {
		/* One EVP_MD_CTX per key: OpenSSL 3.0 ignores a new pkey when an
		 * EVP_MD_CTX that already has a pkey context is re-initialised. */
		e->ed = EVP_MD_CTX_new();
		if (e->ed == NULL ||
		    EVP_DigestSignInit_ex(e->ed, NULL, NULL, in->libctx, NULL, pkey, NULL) != 1)
			return -1;
		return 0;
	}
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(in->libctx, pkey, NULL);
	int ok = c != NULL && EVP_PKEY_sign_init(c) == 1;
	if (ok && alg == SF_ALG_RS256)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
	if (ok && alg == SF_ALG_PS256)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(c, in->sha256) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_PKEY_CTX_set_signature_md(c, in->sha256) == 1;
	if (!ok) {
		EVP_PKEY_CTX_free(c);
		return -1;
	}
	e->pctx = c;
	return 0;
}

/* Look kid up in the instance cache: on success *pkey holds a reference. */
static int key_lookup(sf_inst *in, const char *zone, const char *kid, EVP_PKEY **pkey, sf_alg *alg,
                      uint64_t *serial, int64_t *not_after, caracal_error *err)
{
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			int rc = zone_refresh(in, zone, 1, err);
			if (rc != CARACAL_OK)
				return rc;
		}
		pthread_rwlock_rdlock(&in->lock);
		sf_zone *z = zone_find(in, zone);
		const sf_key *k = NULL;
		for (size_t i = 0; z != NULL && z->ks != NULL && i < z->ks->n; i++)
			if (strcmp(z->ks->k[i].kid, kid) == 0)
				k = &z->ks->k[i];
		if (k == NULL) {
			pthread_rwlock_unlock(&in->lock);
			continue;
		}
		int rc = CARACAL_OK;
		int64_t now = in->host->now_us();
		if (k->pkey == NULL) {
			rc = caracal_error_set(err, k->rc, "%s", k->msg);
		} else if (k->not_after_us != 0 && k->not_after_us <= now) {
			rc = caracal_error_set(err, CARACAL_E_CONFLICT,
			                       "zone %s: key %s was rotated out and its grace has "
			                       "ended; use the current key",
			                       zone, kid);
		} else {
			EVP_PKEY_up_ref(k->pkey);
			*pkey = k->pkey;
			*alg = k->alg;
			*serial = k->serial;
			*not_after = k->not_after_us;
		}
		pthread_rwlock_unlock(&in->lock);
		return rc;
	}
	return caracal_error_set(err, CARACAL_E_CONFLICT,
	                         "zone %s has no key %s that can sign; use the current key", zone,
	                         kid);
}

static int tctx_init(sf_tctx *t, sf_inst *in)
{
	memset(t, 0, sizeof *t);
	t->magic = SF_TCTX_MAGIC;
	t->inst = in;
	t->md = EVP_MD_CTX_new();
	return t->md != NULL ? 0 : -1;
}

static void tctx_fini(sf_tctx *t)
{
	for (size_t i = 0; i < SF_TCACHE; i++)
		tent_clear(&t->e[i]);
	EVP_MD_CTX_free(t->md);
	t->magic = 0;
}

static int do_sign(sf_tctx *t, sf_tent *e, const unsigned char *input, size_t input_len,
                   caracal_arena *arena, caracal_str *signature, caracal_error *err)
{
	sf_inst *in = t->inst;
	unsigned char *sig;
	size_t sl;
	if (e->alg == SF_ALG_EDDSA) {
		sig = in->host->arena_alloc(arena, 64);
		sl = 64;
		if (sig == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		/* OpenSSL 3.0 signs again with the same one-shot context (as openssl
		 * speed does); later versions may refuse a finalised context: then
		 * re-initialise it with the same key (pkey NULL) every time. */
		int ok = 0;
		if (!e->ed_used || !e->ed_reinit) {
			ERR_set_mark();
			ok = EVP_DigestSign(e->ed, sig, &sl, input, input_len) == 1;
			if (!ok && e->ed_used)
				e->ed_reinit = 1;
			ERR_pop_to_mark();
		}
		if (!ok && e->ed_used) {
			sl = 64;
			ok = EVP_DigestSignInit_ex(e->ed, NULL, NULL, in->libctx, NULL, NULL,
			                           NULL) == 1 &&
			     EVP_DigestSign(e->ed, sig, &sl, input, input_len) == 1;
		}
		e->ed_used = 1;
		if (!ok || sl != 64)
			return caracal_error_set(err, CARACAL_E_INTERNAL, "Ed25519 signing failed");
		signature->ptr = (const char *)sig;
		signature->len = sl;
		return CARACAL_OK;
	}
	unsigned char h[32];
	unsigned int hl = 0;
	if (EVP_DigestInit_ex2(t->md, in->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(t->md, input, input_len) != 1 ||
	    EVP_DigestFinal_ex(t->md, h, &hl) != 1)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "SHA-256 failed");
	if (e->alg == SF_ALG_ES256) {
		unsigned char der[80];
		size_t dl = sizeof der;
		sig = in->host->arena_alloc(arena, 64);
		if (sig == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		if (EVP_PKEY_sign(e->pctx, der, &dl, h, hl) != 1 ||
		    sf_ecdsa_der_to_jose(der, dl, 32, sig) != 0)
			return caracal_error_set(err, CARACAL_E_INTERNAL, "ES256 signing failed");
		sl = 64;
	} else {
		sig = in->host->arena_alloc(arena, e->sig_max);
		sl = e->sig_max;
		if (sig == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		if (EVP_PKEY_sign(e->pctx, sig, &sl, h, hl) != 1)
			return caracal_error_set(err, CARACAL_E_INTERNAL, "%s signing failed",
			                         sf_alg_name(e->alg));
	}
	signature->ptr = (const char *)sig;
	signature->len = sl;
	return CARACAL_OK;
}

static int sign_with(sf_tctx *t, const char *zone, const char *kid, const unsigned char *input,
                     size_t input_len, caracal_arena *arena, caracal_str *signature,
                     caracal_error *err)
{
	sf_inst *in = t->inst;
	uint64_t h = hash2(zone, kid);
	uint64_t epoch = atomic_load_explicit(&in->epoch, memory_order_acquire);
	sf_tent *e = NULL;
	for (size_t i = 0; i < SF_TCACHE; i++) {
		sf_tent *x = &t->e[i];
		if (x->hash == h && (x->pctx != NULL || x->ed != NULL) &&
		    strcmp(x->kid, kid) == 0 && strcmp(x->zone, zone) == 0) {
			e = x;
			break;
		}
	}
	if (e != NULL && e->epoch == epoch &&
	    (e->not_after_us == 0 || in->host->now_us() < e->not_after_us))
		return do_sign(t, e, input, input_len, arena, signature, err);

	/* Slow path: (re)validate against the instance cache. */
	EVP_PKEY *pk = NULL;
	sf_alg alg = SF_ALG_ES256;
	uint64_t serial = 0;
	int64_t not_after = 0;
	int rc = key_lookup(in, zone, kid, &pk, &alg, &serial, &not_after, err);
	if (rc != CARACAL_OK) {
		if (e != NULL)
			tent_clear(e);
		return rc;
	}
	if (e == NULL || e->serial != serial) {
		if (e == NULL) {
			e = &t->e[t->next];
			t->next = (t->next + 1) % SF_TCACHE;
		}
		tent_clear(e);
		if (tent_init(in, e, pk, alg) != 0) {
			tent_clear(e);
			EVP_PKEY_free(pk);
			return caracal_error_set(err, CARACAL_E_INTERNAL,
			                         "cannot set up a %s signing context",
			                         sf_alg_name(alg));
		}
		e->hash = h;
		e->serial = serial;
		snprintf(e->zone, sizeof e->zone, "%s", zone);
		snprintf(e->kid, sizeof e->kid, "%s", kid);
	}
	EVP_PKEY_free(pk);
	e->epoch = epoch;
	e->not_after_us = not_after;
	return do_sign(t, e, input, input_len, arena, signature, err);
}

static int sf_sign(void *tctx, const char *zone, const char *kid, const unsigned char *input,
                   size_t input_len, caracal_arena *arena, caracal_str *signature,
                   caracal_error *err)
{
	sf_inst *in = inst_of(tctx);
	int rc;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "not a signer_file context");
	if ((rc = check_zone(zone, err)) != CARACAL_OK)
		return rc;
	if (kid == NULL || !kid_valid(kid))
		return caracal_error_set(err, CARACAL_E_CONFLICT, "zone %s: invalid kid", zone);
	if ((input == NULL && input_len > 0) || signature == NULL)
		return caracal_error_set(err, CARACAL_E_INVAL, "missing input or signature");
	sf_tctx *t = tctx;
	if (t->magic == SF_TCTX_MAGIC)
		return sign_with(t, zone, kid, input, input_len, arena, signature, err);
	/* Called without a thread context: a temporary one. */
	sf_tctx *tmp = malloc(sizeof *tmp);
	if (tmp == NULL || tctx_init(tmp, in) != 0) {
		if (tmp != NULL)
			tctx_fini(tmp);
		free(tmp);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	rc = sign_with(tmp, zone, kid, input, input_len, arena, signature, err);
	tctx_fini(tmp);
	free(tmp);
	return rc;
}

const caracal_signer_ops sf_signer_ops = {
    .size = sizeof(caracal_signer_ops),
    .current_key = sf_current_key,
    .sign = sf_sign,
    .jwks = sf_jwks,
    .rotate = sf_rotate,
};

/* ------------------------------------------------------------ instances */

int sf_thread_create(void *instance, void **tctx, caracal_error *err)
{
	sf_tctx *t = malloc(sizeof *t);
	if (t == NULL || tctx_init(t, instance) != 0) {
		if (t != NULL)
			tctx_fini(t);
		free(t);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	*tctx = t;
	return CARACAL_OK;
}

void sf_thread_destroy(void *instance, void *tctx)
{
	(void)instance;
	if (tctx == NULL)
		return;
	tctx_fini(tctx);
	free(tctx);
}

static int read_kek(sf_inst *in, const caracal_cfg *cfg, const char *key, sf_kek *out,
                    caracal_error *err)
{
	unsigned char buf[160];
	size_t len = 0;
	int rc = in->host->cfg_secret(cfg, key, buf, sizeof buf, &len, err);
	if (rc == CARACAL_E_TOOBIG)
		rc = caracal_error_set(err, CARACAL_E_INVAL,
		                       "key '%s': must be exactly 64 hex characters (32 bytes)",
		                       key);
	if (rc == CARACAL_OK)
		rc = sf_kek_parse(in->libctx, key, buf, len, out, err);
	in->host->secure_zero(buf, sizeof buf);
	return rc;
}

static int open_keystore(sf_inst *in, const char *keystore, caracal_error *err)
{
	int n;
	if (keystore[0] == '\0')
		return caracal_error_set(err, CARACAL_E_INVAL, "key 'keystore': empty path");
	if (keystore[0] == '/')
		n = snprintf(in->dir, sizeof in->dir, "%s", keystore);
	else
		n = snprintf(in->dir, sizeof in->dir, "%s/%s", in->host->data_dir(), keystore);
	if (n < 0 || (size_t)n >= sizeof in->dir)
		return caracal_error_set(err, CARACAL_E_INVAL, "key 'keystore': path too long");
	if (mkdir(in->dir, 0700) != 0 && errno != EEXIST)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "keystore %s: cannot create: %s",
		                         in->dir, strerror(errno));
	in->dirfd = open(in->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in->dirfd < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "keystore %s: cannot open: %s",
		                         in->dir, strerror(errno));
	struct stat st;
	if (fstat(in->dirfd, &st) != 0 || !S_ISDIR(st.st_mode))
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "keystore %s: not a directory",
		                         in->dir);
	if (st.st_mode & 022)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "keystore %s is group or world-writable (mode %04o); "
		                         "chmod 700 it",
		                         in->dir, (unsigned)(st.st_mode & 07777));
	if (st.st_uid != geteuid())
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "keystore %s is owned by uid %u, not by this process (uid "
		                         "%u)",
		                         in->dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		in->host->log(in->scope, CARACAL_LOG_WARN,
		              "keystore %s is accessible by group or others (mode %04o); chmod 700",
		              in->dir, (unsigned)(st.st_mode & 07777));
	return CARACAL_OK;
}

static int import_one(sf_inst *in, const char *zone, const caracal_cfg *node, caracal_error *err)
{
	const char *where = in->host->cfg_where(node);
	const char *p = in->host->cfg_scalar(node);
	char path[PATH_MAX];
	caracal_error e2 = {0};
	if (!sf_zone_id_valid(zone))
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: import: invalid zone id",
		                         where);
	if (p == NULL || p[0] == '\0')
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: import.%s: expected the path of a PEM file", where,
		                         zone);
	int n = p[0] == '/' ? snprintf(path, sizeof path, "%s", p)
	                    : snprintf(path, sizeof path, "%s/%s", in->host->data_dir(), p);
	if (n < 0 || (size_t)n >= sizeof path)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: import.%s: path too long",
		                         where, zone);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "%s: import.%s: %s: %s", where, zone,
		                         path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SF_PEM_MAX) {
		close(fd);
		return caracal_error_set(
		    err, CARACAL_E_INVAL,
		    "%s: import.%s: %s: not a regular file of at most %u bytes", where, zone, path,
		    SF_PEM_MAX);
	}
	if (st.st_mode & 077) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: import.%s: %s is accessible by group or others (mode "
		                         "%04o); chmod 600 it",
		                         where, zone, path, (unsigned)(st.st_mode & 07777));
	}
	unsigned char *buf = OPENSSL_malloc(SF_PEM_MAX + 1);
	size_t len = 0;
	if (buf == NULL) {
		close(fd);
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, SF_PEM_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len > SF_PEM_MAX)
			break;
	}
	close(fd);
	EVP_PKEY *pk = NULL;
	int rc = len > SF_PEM_MAX ? caracal_error_set(&e2, CARACAL_E_INVAL, "file too large")
	                          : sf_key_from_pem(in->libctx, buf, len, &pk, &e2);
	OPENSSL_clear_free(buf, SF_PEM_MAX + 1);
	if (rc == CARACAL_OK)
		rc = sf_key_check(pk, in->alg, &e2);
	if (rc != CARACAL_OK) {
		EVP_PKEY_free(pk);
		return caracal_error_set(err, rc, "%s: import.%s: %s: %s", where, zone, path,
		                         e2.message);
	}
	rc = zone_change(in, zone, SF_IMPORT, pk, &e2);
	EVP_PKEY_free(pk);
	if (rc != CARACAL_OK)
		return caracal_error_set(err, rc, "%s: import.%s: %s", where, zone, e2.message);
	return CARACAL_OK;
}

int sf_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	sf_inst *in = calloc(1, sizeof *in);
	const char *s;
	int rc;
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	in->magic = SF_INST_MAGIC;
	in->host = host;
	in->scope = scope;
	in->dirfd = -1;
	in->libctx = host->ossl_libctx();
	in->alg = SF_ALG_ES256;
	in->generate = 1;
	in->grace_us = INT64_C(24) * 3600 * 1000000;
	in->max_age_s = 300;
	pthread_rwlock_init(&in->lock, NULL);
	pthread_mutex_init(&in->load_mu, NULL);

	in->aead = EVP_CIPHER_fetch(in->libctx, "ChaCha20-Poly1305", NULL);
	in->sha256 = EVP_MD_fetch(in->libctx, "SHA256", NULL);
	if (in->aead == NULL || in->sha256 == NULL) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL,
		                       "OpenSSL provides no ChaCha20-Poly1305 or SHA-256");
		goto fail;
	}
	if ((rc = host->cfg_string(cfg, "algorithm", &s, err)) == CARACAL_OK) {
		if (sf_alg_parse(s, &in->alg) != 0) {
			rc =
			    caracal_error_set(err, CARACAL_E_INVAL,
			                      "%s: key 'algorithm': must be ES256, EdDSA, RS256 or "
			                      "PS256",
			                      host->cfg_where(host->cfg_child(cfg, "algorithm")));
			goto fail;
		}
	} else if (rc != CARACAL_E_NOTFOUND) {
		goto fail;
	}
	int64_t ms;
	if ((rc = host->cfg_duration_ms(cfg, "rotation_grace", &ms, err)) == CARACAL_OK) {
		if (ms < 0 || ms > INT64_C(366) * 24 * 3600 * 1000) {
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "key 'rotation_grace': between 0 and 366d");
			goto fail;
		}
		in->grace_us = ms * 1000;
	} else if (rc != CARACAL_E_NOTFOUND) {
		goto fail;
	}
	if ((rc = host->cfg_duration_ms(cfg, "jwks_max_age", &ms, err)) == CARACAL_OK) {
		if (ms < 0 || ms > INT64_C(7) * 24 * 3600 * 1000) {
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "key 'jwks_max_age': between 0 and 7d");
			goto fail;
		}
		in->max_age_s = ms / 1000;
	} else if (rc != CARACAL_E_NOTFOUND) {
		goto fail;
	}
	if ((rc = host->cfg_bool(cfg, "generate", &in->generate, err)) != CARACAL_OK &&
	    rc != CARACAL_E_NOTFOUND)
		goto fail;
	if ((rc = read_kek(in, cfg, "kek", &in->keks[0], err)) != CARACAL_OK) {
		if (rc == CARACAL_E_NOTFOUND)
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "key 'kek' is required (kek_file or kek_env)");
		goto fail;
	}
	rc = read_kek(in, cfg, "kek_previous", &in->keks[1], err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		goto fail;
	if (in->keks[1].set && CRYPTO_memcmp(in->keks[0].key, in->keks[1].key, SF_KEK_LEN) == 0) {
		rc = caracal_error_set(err, CARACAL_E_INVAL,
		                       "key 'kek_previous' is the same as 'kek'");
		goto fail;
	}
	if ((rc = host->cfg_string(cfg, "keystore", &s, err)) != CARACAL_OK) {
		if (rc == CARACAL_E_NOTFOUND)
			rc = caracal_error_set(err, CARACAL_E_INVAL, "key 'keystore' is required");
		goto fail;
	}
	if ((rc = open_keystore(in, s, err)) != CARACAL_OK)
		goto fail;
	const caracal_cfg *imp = host->cfg_child(cfg, "import");
	if (imp != NULL) {
		size_t n = host->cfg_count(imp);
		if (n == 0 && host->cfg_scalar(imp) != NULL) {
			rc = caracal_error_set(err, CARACAL_E_INVAL,
			                       "%s: key 'import': expected a mapping zone_id: path",
			                       host->cfg_where(imp));
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			const char *zone = NULL;
			const caracal_cfg *node = host->cfg_at(imp, i, &zone);
			if (zone == NULL) {
				rc = caracal_error_set(
				    err, CARACAL_E_INVAL,
				    "%s: key 'import': expected a mapping zone_id: "
				    "path",
				    host->cfg_where(imp));
				goto fail;
			}
			if ((rc = import_one(in, zone, node, err)) != CARACAL_OK)
				goto fail;
		}
	}
	*instance = in;
	return CARACAL_OK;
fail:
	sf_instance_destroy(in);
	return rc;
}

int sf_instance_ready(void *instance, caracal_error *err)
{
	sf_inst *in = instance;
	struct stat st;
	if (fstat(in->dirfd, &st) != 0 || faccessat(in->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "keystore %s is not usable: %s",
		                         in->dir, strerror(errno));
	return CARACAL_OK;
}

void sf_instance_destroy(void *instance)
{
	sf_inst *in = instance;
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->nbuckets; i++) {
		for (sf_zone *z = in->buckets[i], *nx; z != NULL; z = nx) {
			nx = z->next;
			keyset_free(z->ks);
			free(z);
		}
	}
	free(in->buckets);
	if (in->dirfd >= 0)
		close(in->dirfd);
	EVP_CIPHER_free(in->aead);
	EVP_MD_free(in->sha256);
	in->host->secure_zero(in->keks, sizeof in->keks);
	pthread_rwlock_destroy(&in->lock);
	pthread_mutex_destroy(&in->load_mu);
	in->magic = 0;
	free(in);
}

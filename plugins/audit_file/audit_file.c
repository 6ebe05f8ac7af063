/*
 * audit_file.c — the audit_file sink: per-zone hash-chained JSON-lines
 * ledgers with MACed checkpoints. Format: ledger.h.
 *
 * Layout: <path>/<zone>.jsonl (the chain) and <path>/<zone>.checkpoint (the
 * newest checkpoint, replaced atomically). One file per zone because each
 * zone is an independent chain: a damaged zone fails closed alone, recovery
 * and verification of one zone read only its own file, and each file has a
 * single writer holding an flock on it. Zone ids name files, so they are
 * restricted to [A-Za-z0-9._:@+=-], 1..128 bytes, no leading '.'; an event
 * of another zone id is refused with INVAL (the core dead-letters it).
 *
 * Durability. fsync: always fdatasync()s every record before append returns.
 * fsync: batch acknowledges records once written (page cache) and
 * fdatasync()s a zone when fsync_max_records records are pending, when an
 * append finds the oldest pending record older than fsync_interval, and from
 * a flusher thread that runs every fsync_interval/2. A crash (power loss, not
 * a process crash: written pages survive those) therefore loses at most
 * fsync_max_records records or fsync_interval worth of records, whichever is
 * fewer. A failed fsync makes the zone UNAVAIL (fail closed; its pages may
 * be gone).
 *
 * Checkpoints are written after the ledger is fdatasync()ed, so a checkpoint
 * never names a record a crash can lose. Deleting records at the tail that a
 * checkpoint covers is detected; records after the newest checkpoint (at most
 * checkpoint_every, or since the last flush) are not: anchor checkpoints
 * outside the host for more. Replacing both files with an older copy is not
 * detectable locally either.
 *
 * Opening a zone (lazily, at its first append) scans and verifies the whole
 * chain, rebuilds the dedup index and recovers the head. A last line without
 * its '\n' (crash inside write(2)) is cut off with a warning when it lies
 * beyond the checkpoint; any other problem makes the zone UNAVAIL until a new
 * instance is created: nothing is ever appended onto a chain that does not
 * verify.
 *
 * Threading: one mutex per instance guards every zone. The core serialises
 * appends; verify() takes the mutex only to read the checkpoint and snapshot
 * the committed size of an open zone, then reads the (append-only) file
 * without it, so a long verification never stalls appends. The batch
 * flusher thread takes the same mutex. No thread hooks: tctx is the
 * instance.
 */
#include "audit_file.h"
#include "ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AF_KEY_MIN 32
#define AF_KEY_MAX 512
#define AF_CHECKPOINT_FILE_MAX 1024
#define AF_WHY_MAX 200

/* ------------------------------------------------------------ dedup index */

typedef struct af_entry {
	char *id; /* NULL: empty slot */
	uint64_t h;
	uint64_t seq;
	unsigned char digest[32];
	char hash[AF_HEX];
} af_entry;

typedef struct af_index {
	af_entry *slots;
	size_t cap; /* power of two */
	size_t count;
} af_index;

static void index_free(af_index *ix)
{
	for (size_t i = 0; i < ix->cap; i++)
		free(ix->slots[i].id);
	free(ix->slots);
	memset(ix, 0, sizeof *ix);
}

static af_entry *index_find(af_index *ix, const unsigned char key[16], const char *id)
{
	if (ix->cap == 0)
		return NULL;
	uint64_t h = af_siphash(key, id, strlen(id));
	for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		af_entry *e = &ix->slots[i];
		if (e->id == NULL)
			return NULL;
		if (e->h == h && strcmp(e->id, id) == 0)
			return e;
	}
}

/* Room for one more entry: after this, index_put cannot fail. */
static int index_reserve(af_index *ix)
{
	if ((ix->count + 1) * 10 <= ix->cap * 7)
		return 0;
	size_t cap = ix->cap ? ix->cap * 2 : 64;
	af_entry *slots = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < ix->cap; i++) {
		af_entry *e = &ix->slots[i];
		if (e->id == NULL)
			continue;
		size_t j = e->h & (cap - 1);
		while (slots[j].id != NULL)
			j = (j + 1) & (cap - 1);
		slots[j] = *e;
	}
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	return 0;
}

/* Takes ownership of id (malloc'd); index_reserve() must have succeeded. */
static void index_put(af_index *ix, const unsigned char key[16], char *id, uint64_t seq,
                      const unsigned char digest[32], const char *hash)
{
	uint64_t h = af_siphash(key, id, strlen(id));
	size_t i = h & (ix->cap - 1);
	while (ix->slots[i].id != NULL)
		i = (i + 1) & (ix->cap - 1);
	af_entry *e = &ix->slots[i];
	e->id = id;
	e->h = h;
	e->seq = seq;
	memcpy(e->digest, digest, 32);
	memcpy(e->hash, hash, AF_HEX);
	ix->count++;
}

/* ------------------------------------------------------------ state */

typedef struct af_zone {
	struct af_zone *next;
	char id[AF_ZONE_MAX + 1];
	int fd;     /* O_RDWR|O_APPEND, flocked; -1 until opened */
	int broken; /* integrity or I/O failure: appends refused */
	char why[AF_WHY_MAX];
	uint64_t seq;        /* head */
	char hash[AF_HEX];   /* head hash, "" when empty */
	off_t size;          /* bytes of complete records */
	uint64_t cp_seq;     /* seq of the newest checkpoint on disk */
	uint64_t dirty;      /* records written since the last fdatasync */
	int64_t dirty_since; /* monotonic µs of the oldest of them */
	af_index index;
} af_zone;

typedef struct af_inst {
	const caracal_host *host;
	const caracal_scope *scope;
	char dir[PATH_MAX];
	int dirfd;
	char kid[AF_KID];
	EVP_MAC *mac;
	EVP_MAC_CTX *mac_tmpl; /* keyed, never used directly: dup'd per user */
	EVP_MAC_CTX *mac_ctx;  /* appends and checkpoints, under lock */
	EVP_MD *sha256;
	int batch;
	int64_t interval_ms;
	int64_t max_records;
	int64_t checkpoint_every;
	unsigned char sipkey[16];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int lock_init;
	int flusher_running;
	int stopping;
	pthread_t flusher;
	af_zone *zones;
	af_buf line;
} af_inst;

/* snprintf that truncates on purpose (messages, bounded paths). */
static void afmt(char *buf, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void afmt(char *buf, size_t cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	if (vsnprintf(buf, cap, f, ap) < 0 && cap > 0)
		buf[0] = '\0';
	va_end(ap);
}

static void zone_break(af_inst *in, af_zone *z, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void zone_break(af_inst *in, af_zone *z, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(z->why, sizeof z->why, fmt, ap);
	va_end(ap);
	z->broken = 1;
	if (z->fd >= 0) {
		close(z->fd);
		z->fd = -1;
	}
	index_free(&z->index);
	in->host->log(in->scope, CARACAL_LOG_ERROR,
	              "zone %s: ledger unavailable, appends refused: %s", z->id, z->why);
	in->host->metric_count(in->scope, "zone_failures", NULL, 1);
}

static void path_of(const af_inst *in, const char *zone, const char *suffix, char *out, size_t cap)
{
	afmt(out, cap, "%s/%s%s", in->dir, zone, suffix);
}

/* ------------------------------------------------------------ checkpoints */

enum { CP_NONE = 0, CP_OK = 1, CP_BAD = -1, CP_IOERR = -2 };

/* Read and check <zone>.checkpoint. CP_BAD fills why; CP_IOERR fills err. */
static int checkpoint_load(af_inst *in, EVP_MAC_CTX *mac, const char *zone, af_checkpoint *cp,
                           char *why, size_t whycap, caracal_error *err)
{
	char name[AF_ZONE_MAX + 32], buf[AF_CHECKPOINT_FILE_MAX + 1], want[AF_HEX];
	size_t len = 0;
	snprintf(name, sizeof name, "%s%s", zone, AF_CHECKPOINT_SUFFIX);
	int fd = openat(in->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CP_NONE;
		caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot open %s/%s: %s", in->dir, name,
		                  strerror(errno));
		return CP_IOERR;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot read %s/%s: %s", in->dir,
			                  name, strerror(errno));
			close(fd);
			return CP_IOERR;
		}
		if (n == 0 || (len += (size_t)n) == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (len == 0 || buf[len - 1] != '\n' || af_checkpoint_parse(buf, len - 1, cp) != 0) {
		snprintf(why, whycap, "checkpoint unparseable (corrupted or edited)");
		return CP_BAD;
	}
	if (strcmp(cp->zone_id, zone) != 0) {
		snprintf(why, whycap, "checkpoint belongs to zone '%s'", cp->zone_id);
		return CP_BAD;
	}
	if (af_checkpoint_mac(mac, cp, want) != 0) {
		caracal_error_set(err, CARACAL_E_INTERNAL, "HMAC computation failed");
		return CP_IOERR;
	}
	if (!in->host->const_time_eq(want, cp->mac, 64)) {
		if (strcmp(cp->kid, in->kid) != 0)
			snprintf(
			    why, whycap,
			    "checkpoint MAC mismatch (written with key id %s, configured key id "
			    "%s)",
			    cp->kid, in->kid);
		else
			snprintf(why, whycap,
			         "checkpoint MAC mismatch (checkpoint forged or edited)");
		return CP_BAD;
	}
	return CP_OK;
}

static int write_all_once(int fd, const char *p, size_t n)
{
	ssize_t w;
	do
		w = write(fd, p, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	if ((size_t)w != n) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

/* Atomically replace <zone>.checkpoint with the zone's head. The ledger must
 * already be durable up to the head. */
static int checkpoint_write(af_inst *in, af_zone *z, caracal_error *err)
{
	af_checkpoint cp;
	af_buf b = {0};
	char tmp[AF_ZONE_MAX + 32], name[AF_ZONE_MAX + 32];
	int fd, rc = CARACAL_OK;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.zone_id, z->id, sizeof cp.zone_id);
	cp.seq = z->seq;
	memcpy(cp.hash, z->hash, AF_HEX);
	cp.at = in->host->now_us();
	memcpy(cp.kid, in->kid, AF_KID);
	if (af_checkpoint_mac(in->mac_ctx, &cp, cp.mac) != 0)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "HMAC computation failed");
	if (af_checkpoint_format(&b, &cp) != 0)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	snprintf(name, sizeof name, "%s%s", z->id, AF_CHECKPOINT_SUFFIX);
	snprintf(tmp, sizeof tmp, "%s%s%s", z->id, AF_CHECKPOINT_SUFFIX, AF_TMP_SUFFIX);
	fd = openat(in->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: cannot create %s/%s: %s",
		                       z->id, in->dir, tmp, strerror(errno));
		goto out;
	}
	if (write_all_once(fd, b.p, b.len) != 0 || fsync(fd) != 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: cannot write %s/%s: %s",
		                       z->id, in->dir, tmp, strerror(errno));
		close(fd);
		unlinkat(in->dirfd, tmp, 0);
		goto out;
	}
	close(fd);
	if (renameat(in->dirfd, tmp, in->dirfd, name) != 0 || fsync(in->dirfd) != 0) {
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: cannot install %s/%s: %s",
		                       z->id, in->dir, name, strerror(errno));
		goto out;
	}
	z->cp_seq = z->seq;
	in->host->metric_count(in->scope, "checkpoints", NULL, 1);
out:
	af_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------ scanning */

typedef struct scan_ctx {
	af_inst *in;
	EVP_MAC_CTX *mac;
	const char *zone;
	const char *path;    /* ledger path for locations */
	const char *cp_path; /* checkpoint path for locations */
	const af_checkpoint *cp;
	af_index *index; /* open: the zone's index (with digests); verify: scratch */
	int need_digest;
	caracal_audit_finding_fn found;
	void *ud;
	/* results */
	uint64_t problems;
	char first[AF_WHY_MAX]; /* the first problem, for zone->why */
	uint64_t lines;
	uint64_t last_seq;
	char last_hash[AF_HEX];
	off_t good_size;
	int torn;
	off_t torn_bytes;
	int cp_seen;
	int resync;   /* the previous line was unparseable: no seq/prev check */
	int prev_bad; /* the previous record had a problem: no prev check */
	int failed;   /* an internal failure (OOM, OpenSSL): err set */
} scan_ctx;

static void report(scan_ctx *sc, uint64_t seq, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(scan_ctx *sc, uint64_t seq, uint64_t line, const char *fmt, ...)
{
	char problem[AF_WHY_MAX], where[PATH_MAX + 32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof problem, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof where, "%s:%" PRIu64, sc->path, line);
	else
		snprintf(where, sizeof where, "%s", sc->cp_path);
	if (sc->problems++ == 0)
		afmt(sc->first, sizeof sc->first, "%s: %s", where, problem);
	if (sc->found != NULL) {
		caracal_audit_finding f = {sizeof f, sc->zone, seq, where, problem};
		sc->found(sc->ud, &f);
	}
}

static void scan_line(scan_ctx *sc, char *line, size_t len, caracal_error *err)
{
	af_record r;
	char mac[AF_HEX];
	uint64_t L = ++sc->lines;
	uint64_t expect = sc->last_seq + 1;
	int bad = 1;

	if (af_record_parse(line, len, &r) != 0) {
		report(sc, expect, L, "unparseable line (record edited, corrupted or inserted)");
		sc->resync = 1;
		sc->prev_bad = 1;
		return;
	}
	if (af_record_mac(sc->mac, &r, mac) != 0) {
		sc->failed = 1;
		caracal_error_set(err, CARACAL_E_INTERNAL, "HMAC computation failed");
		return;
	}
	if (sc->cp != NULL && r.seq == sc->cp->seq)
		sc->cp_seen = 1;
	if (strcmp(r.zone_id, sc->zone) != 0) {
		report(sc, r.seq, L, "record of zone '%s' in this zone's ledger (record moved)",
		       r.zone_id);
	} else if (!sc->in->host->const_time_eq(mac, r.hash, 64)) {
		if (strcmp(r.kid, sc->in->kid) != 0)
			report(
			    sc, r.seq, L,
			    "hash mismatch (record forged or edited: key id %s, configured key id "
			    "%s)",
			    r.kid, sc->in->kid);
		else
			report(sc, r.seq, L, "hash mismatch (record edited)");
	} else if (!sc->resync && r.seq > expect) {
		report(sc, expect, L,
		       "sequence gap: seq %" PRIu64 " follows seq %" PRIu64 " (record deleted or "
		       "records reordered)",
		       r.seq, sc->last_seq);
	} else if (!sc->resync && r.seq == sc->last_seq) {
		report(sc, r.seq, L, "duplicate seq %" PRIu64 " (record inserted)", r.seq);
	} else if (!sc->resync && r.seq < expect) {
		report(sc, r.seq, L, "seq %" PRIu64 " after seq %" PRIu64 " (records reordered)",
		       r.seq, sc->last_seq);
	} else if (!sc->resync && !sc->prev_bad && strcmp(r.prev, sc->last_hash) != 0) {
		report(sc, r.seq, L,
		       "prev does not match the previous record's hash (record deleted, inserted "
		       "or replaced)");
	} else if (sc->cp != NULL && r.seq == sc->cp->seq && strcmp(r.hash, sc->cp->hash) != 0) {
		report(sc, r.seq, L,
		       "hash differs from the checkpoint's for this seq (ledger rewritten)");
	} else {
		af_entry *e = sc->index ? index_find(sc->index, sc->in->sipkey, r.id) : NULL;
		if (e != NULL) {
			report(sc, r.seq, L,
			       "event id already recorded at seq %" PRIu64 " (duplicate record)",
			       e->seq);
		} else {
			bad = 0;
			if (sc->index != NULL) {
				unsigned char digest[32] = {0};
				char *id = strdup(r.id);
				if (id == NULL || index_reserve(sc->index) != 0 ||
				    (sc->need_digest &&
				     af_content_digest(sc->in->sha256, &r, digest) != 0)) {
					free(id);
					sc->failed = 1;
					caracal_error_set(err, CARACAL_E_NOMEM,
					                  "out of memory indexing zone %s",
					                  sc->zone);
					return;
				}
				index_put(sc->index, sc->in->sipkey, id, r.seq, digest, r.hash);
			}
		}
	}
	sc->resync = 0;
	sc->prev_bad = bad;
	if (r.seq > sc->last_seq)
		sc->last_seq = r.seq;
	memcpy(sc->last_hash, r.hash, AF_HEX);
}

/* Scan fd from its current offset (0) up to limit bytes (-1: to EOF). */
static int scan_fd(scan_ctx *sc, int fd, off_t limit, caracal_error *err)
{
	size_t cap = 65536, start = 0, end = 0;
	off_t base = 0, total = 0, good = 0;
	int skipping = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	for (;;) {
		char *nl = end > start ? memchr(buf + start, '\n', end - start) : NULL;
		if (nl != NULL) {
			size_t llen = (size_t)(nl - (buf + start));
			if (skipping) {
				skipping = 0;
				report(sc, sc->last_seq + 1, ++sc->lines,
				       "line longer than %u bytes (corrupted)", AF_LINE_MAX);
				sc->resync = sc->prev_bad = 1;
			} else {
				scan_line(sc, buf + start, llen, err);
				if (sc->failed)
					break;
			}
			start += llen + 1;
			good = base + (off_t)start;
			continue;
		}
		if (limit >= 0 && total >= limit)
			break;
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			base += (off_t)start;
			end -= start;
			start = 0;
		}
		if (end == cap) {
			if (cap > AF_LINE_MAX) {
				skipping = 1;
				base += (off_t)end;
				end = 0;
			} else {
				char *nb = realloc(buf, cap * 2);
				if (nb == NULL) {
					free(buf);
					return caracal_error_set(err, CARACAL_E_NOMEM,
					                         "out of memory");
				}
				buf = nb;
				cap *= 2;
			}
		}
		size_t want = cap - end;
		if (limit >= 0 && (off_t)want > limit - total)
			want = (size_t)(limit - total);
		ssize_t n = read(fd, buf + end, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot read %s: %s",
			                         sc->path, strerror(errno));
		}
		if (n == 0)
			break;
		end += (size_t)n;
		total += n;
	}
	free(buf);
	if (sc->failed)
		return err != NULL && err->code != 0 ? err->code : CARACAL_E_INTERNAL;
	sc->good_size = good;
	if (end > start || skipping) {
		sc->torn = 1;
		sc->torn_bytes = base + (off_t)end - good;
	}
	return CARACAL_OK;
}

/* After the scan: what the checkpoint says must be there. */
static void scan_finish(scan_ctx *sc)
{
	if (sc->cp == NULL)
		return;
	if (sc->last_seq < sc->cp->seq)
		report(sc, sc->last_seq + 1, sc->lines + 1,
		       "truncated tail: the ledger ends at seq %" PRIu64 "%s but the checkpoint "
		       "records seq %" PRIu64 " (records deleted)",
		       sc->last_seq, sc->torn ? " (plus an incomplete line)" : "", sc->cp->seq);
	else if (!sc->cp_seen)
		report(sc, sc->cp->seq, 0,
		       "record seq %" PRIu64 " named by the checkpoint is missing from the ledger",
		       sc->cp->seq);
}

/* ------------------------------------------------------------ zones */

static af_zone *zone_find(af_inst *in, const char *zone)
{
	for (af_zone *z = in->zones; z != NULL; z = z->next)
		if (strcmp(z->id, zone) == 0)
			return z;
	return NULL;
}

static int zone_unavail(af_zone *z, caracal_error *err)
{
	return caracal_error_set(err, CARACAL_E_UNAVAIL,
	                         "zone %s: ledger damaged, appends refused (run caracalctl audit "
	                         "verify): %s",
	                         z->id, z->why);
}

/* Open, lock, verify and recover zone for appending. Under in->lock. */
static int zone_open(af_inst *in, const char *zone, af_zone **out, caracal_error *err)
{
	char name[AF_ZONE_MAX + 16], path[PATH_MAX], cp_path[PATH_MAX], why[AF_WHY_MAX];
	af_checkpoint cp;
	struct stat st;
	int created = 0, rc, cprc;
	af_zone *z = zone_find(in, zone);

	if (z != NULL && z->broken)
		return zone_unavail(z, err);
	if (z != NULL && z->fd >= 0) {
		*out = z;
		return CARACAL_OK;
	}
	if (z == NULL) {
		z = calloc(1, sizeof *z);
		if (z == NULL)
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		snprintf(z->id, sizeof z->id, "%s", zone);
		z->fd = -1;
		z->next = in->zones;
		in->zones = z;
	}
	path_of(in, zone, AF_LEDGER_SUFFIX, path, sizeof path);
	path_of(in, zone, AF_CHECKPOINT_SUFFIX, cp_path, sizeof cp_path);
	snprintf(name, sizeof name, "%s%s", zone, AF_LEDGER_SUFFIX);

	cprc = checkpoint_load(in, in->mac_ctx, zone, &cp, why, sizeof why, err);
	if (cprc == CP_IOERR)
		return err != NULL ? err->code : CARACAL_E_UNAVAIL;
	if (cprc == CP_BAD) {
		zone_break(in, z, "%s: %s", cp_path, why);
		return zone_unavail(z, err);
	}

	z->fd = openat(in->dirfd, name, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (z->fd < 0 && errno == ENOENT) {
		if (cprc == CP_OK) {
			zone_break(
			    in, z,
			    "%s: ledger file missing but the checkpoint records seq %" PRIu64, path,
			    cp.seq);
			return zone_unavail(z, err);
		}
		z->fd = openat(in->dirfd, name,
		               O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		created = 1;
	}
	if (z->fd < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: cannot open %s: %s",
		                         zone, path, strerror(errno));
	if (flock(z->fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(z->fd);
		z->fd = -1;
		return caracal_error_set(
		    err, CARACAL_E_UNAVAIL,
		    "zone %s: %s is locked by another process or instance (%s)", zone, path,
		    strerror(e));
	}
	if (fstat(z->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		zone_break(in, z, "%s is not a regular file writable by its owner only", path);
		return zone_unavail(z, err);
	}
	if (created && fsync(in->dirfd) != 0) {
		int e = errno;
		close(z->fd);
		z->fd = -1;
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: fsync of %s failed: %s",
		                         zone, in->dir, strerror(e));
	}

	scan_ctx sc;
	memset(&sc, 0, sizeof sc);
	sc.in = in;
	sc.mac = in->mac_ctx;
	sc.zone = zone;
	sc.path = path;
	sc.cp_path = cp_path;
	sc.cp = cprc == CP_OK ? &cp : NULL;
	sc.index = &z->index;
	sc.need_digest = 1;
	rc = scan_fd(&sc, z->fd, -1, err);
	if (rc != CARACAL_OK) {
		index_free(&z->index);
		close(z->fd);
		z->fd = -1;
		return rc;
	}
	scan_finish(&sc);
	if (sc.problems > 0) {
		zone_break(in, z, "%s%s", sc.first, sc.problems > 1 ? " (and more problems)" : "");
		return zone_unavail(z, err);
	}
	if (sc.torn) {
		/* Beyond the checkpoint (scan_finish found nothing): crash residue
		 * of a write never acknowledged as durable. */
		if (ftruncate(z->fd, sc.good_size) != 0 || fdatasync(z->fd) != 0) {
			zone_break(in, z, "%s: cannot remove the incomplete last line: %s", path,
			           strerror(errno));
			return zone_unavail(z, err);
		}
		in->host->log(in->scope, CARACAL_LOG_WARN,
		              "zone %s: removed an incomplete last line at %s:%" PRIu64
		              " (%jd bytes, an interrupted write beyond the checkpoint)",
		              zone, path, sc.lines + 1, (intmax_t)sc.torn_bytes);
		in->host->metric_count(in->scope, "torn_tail_repaired", NULL, 1);
	}
	z->seq = sc.last_seq;
	memcpy(z->hash, sc.last_hash, AF_HEX);
	z->size = sc.good_size;
	z->cp_seq = cprc == CP_OK ? cp.seq : 0;
	z->dirty = 0;
	in->host->log(in->scope, CARACAL_LOG_DEBUG, "zone %s: opened %s at seq %" PRIu64, zone,
	              path, z->seq);
	*out = z;
	return CARACAL_OK;
}

/* fdatasync a zone with pending records. Under in->lock. */
static int zone_sync(af_inst *in, af_zone *z, caracal_error *err)
{
	if (z->fd < 0 || z->dirty == 0)
		return CARACAL_OK;
	if (fdatasync(z->fd) != 0) {
		int e = errno;
		zone_break(in, z, "fdatasync failed: %s (records may not be durable)", strerror(e));
		return zone_unavail(z, err);
	}
	z->dirty = 0;
	in->host->metric_count(in->scope, "fsyncs", NULL, 1);
	return CARACAL_OK;
}

/* ------------------------------------------------------------ operations */

static void fill_receipt(caracal_audit_receipt *out, uint64_t seq, const char *hash, int dup)
{
	if (out == NULL)
		return;
	if (out->size >= offsetof(caracal_audit_receipt, seq) + sizeof out->seq)
		out->seq = seq;
	if (out->size >= offsetof(caracal_audit_receipt, hash_hex) + sizeof out->hash_hex)
		memcpy(out->hash_hex, hash, AF_HEX);
	if (out->size >= offsetof(caracal_audit_receipt, duplicate) + sizeof out->duplicate)
		out->duplicate = dup;
}

static int validate_event(const caracal_audit_event *ev, caracal_error *err)
{
	if (ev == NULL ||
	    ev->size < offsetof(caracal_audit_event, canonical_json) + sizeof ev->canonical_json)
		return caracal_error_set(err, CARACAL_E_INVAL, "audit event missing or too small");
	if (ev->zone_id == NULL || !af_zone_valid(ev->zone_id))
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "invalid zone id (1..%d bytes of [A-Za-z0-9._:@+=-], not "
		                         "starting with '.')",
		                         AF_ZONE_MAX);
	if (ev->id == NULL || ev->id[0] == '\0' || strlen(ev->id) > AF_ID_MAX ||
	    !af_utf8_valid(ev->id, strlen(ev->id)))
		return caracal_error_set(
		    err, CARACAL_E_INVAL,
		    "zone %s: event id empty, longer than %d bytes or not UTF-8", ev->zone_id,
		    AF_ID_MAX);
	if (ev->event_type != NULL && (strlen(ev->event_type) > AF_TYPE_MAX ||
	                               !af_utf8_valid(ev->event_type, strlen(ev->event_type))))
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "zone %s: event type longer than %d bytes or not UTF-8",
		                         ev->zone_id, AF_TYPE_MAX);
	if (ev->canonical_json.ptr == NULL || ev->canonical_json.len == 0)
		return caracal_error_set(err, CARACAL_E_INVAL, "zone %s: event %s has no JSON",
		                         ev->zone_id, ev->id);
	if (ev->canonical_json.len > AF_EVENT_MAX)
		return caracal_error_set(err, CARACAL_E_TOOBIG,
		                         "zone %s: event JSON is %zu bytes, at most %u",
		                         ev->zone_id, ev->canonical_json.len, AF_EVENT_MAX);
	if (!af_json_object_shape(ev->canonical_json.ptr, ev->canonical_json.len))
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "zone %s: event JSON is not one canonical JSON object",
		                         ev->zone_id);
	return CARACAL_OK;
}

int af_append(void *tctx, const caracal_audit_event *ev, caracal_audit_receipt *out,
              caracal_error *err)
{
	af_inst *in = tctx;
	af_zone *z;
	af_record r;
	unsigned char digest[32];
	int rc = validate_event(ev, err);
	if (rc != CARACAL_OK)
		return rc;

	memset(&r, 0, sizeof r);
	r.zone_id = ev->zone_id;
	r.id = ev->id;
	r.event_type = ev->event_type != NULL ? ev->event_type : "";
	r.occurred_at = ev->occurred_at_us;
	r.event = ev->canonical_json.ptr;
	r.event_len = ev->canonical_json.len;
	if (af_content_digest(in->sha256, &r, digest) != 0)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "SHA-256 failed");

	pthread_mutex_lock(&in->lock);
	rc = zone_open(in, ev->zone_id, &z, err);
	if (rc != CARACAL_OK)
		goto out;

	af_entry *e = index_find(&z->index, in->sipkey, ev->id);
	if (e != NULL) {
		if (memcmp(e->digest, digest, 32) == 0) {
			fill_receipt(out, e->seq, e->hash, 1);
			in->host->metric_count(in->scope, "duplicates", NULL, 1);
		} else {
			rc = caracal_error_set(
			    err, CARACAL_E_CONFLICT,
			    "zone %s: event id %s already recorded at seq %" PRIu64
			    " with different content",
			    z->id, ev->id, e->seq);
			in->host->log(in->scope, CARACAL_LOG_WARN, "%s", err ? err->message : "");
			in->host->metric_count(in->scope, "conflicts", NULL, 1);
		}
		goto out;
	}

	char *id_copy = strdup(ev->id);
	if (id_copy == NULL || index_reserve(&z->index) != 0) {
		free(id_copy);
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		goto out;
	}
	r.seq = z->seq + 1;
	memcpy(r.prev, z->hash, AF_HEX);
	memcpy(r.kid, in->kid, AF_KID);
	in->line.len = 0;
	if (af_record_mac(in->mac_ctx, &r, r.hash) != 0 || af_record_format(&in->line, &r) != 0) {
		free(id_copy);
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "cannot encode the record");
		goto out;
	}
	if (write_all_once(z->fd, in->line.p, in->line.len) != 0) {
		int e2 = errno;
		free(id_copy);
		/* Take back a partial line so the chain stays clean. */
		if (ftruncate(z->fd, z->size) != 0)
			zone_break(in, z,
			           "write failed (%s) and the partial line cannot be removed",
			           strerror(e2));
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "zone %s: write failed: %s", z->id,
		                       strerror(e2));
		goto out;
	}
	z->size += (off_t)in->line.len;
	z->seq = r.seq;
	memcpy(z->hash, r.hash, AF_HEX);
	index_put(&z->index, in->sipkey, id_copy, r.seq, digest, r.hash);
	if (z->dirty++ == 0)
		z->dirty_since = in->host->monotonic_us();
	if (!in->batch || z->dirty >= (uint64_t)in->max_records ||
	    in->host->monotonic_us() - z->dirty_since >= in->interval_ms * 1000) {
		rc = zone_sync(in, z, err);
		if (rc != CARACAL_OK)
			goto out;
	}
	if (z->seq - z->cp_seq >= (uint64_t)in->checkpoint_every) {
		caracal_error cerr = {0};
		if (zone_sync(in, z, err) != CARACAL_OK) {
			rc = err != NULL ? err->code : CARACAL_E_UNAVAIL;
			goto out;
		}
		if (checkpoint_write(in, z, &cerr) != CARACAL_OK) /* retried next append */
			in->host->log(in->scope, CARACAL_LOG_ERROR, "%s", cerr.message);
	}
	fill_receipt(out, r.seq, r.hash, 0);
	in->host->metric_count(in->scope, "records", NULL, 1);
out:
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/* Under in->lock. */
static int flush_locked(af_inst *in, caracal_error *err)
{
	int rc = CARACAL_OK;
	for (af_zone *z = in->zones; z != NULL; z = z->next) {
		caracal_error zerr = {0};
		int zrc;
		if (z->fd < 0 || z->broken)
			continue;
		zrc = zone_sync(in, z, &zerr);
		if (zrc == CARACAL_OK && z->seq > z->cp_seq)
			zrc = checkpoint_write(in, z, &zerr);
		if (zrc != CARACAL_OK && rc == CARACAL_OK) {
			rc = zrc;
			if (err != NULL)
				*err = zerr;
		}
	}
	return rc;
}

int af_flush(void *tctx, caracal_error *err)
{
	af_inst *in = tctx;
	pthread_mutex_lock(&in->lock);
	int rc = flush_locked(in, err);
	pthread_mutex_unlock(&in->lock);
	return rc;
}

static int verify_zone(af_inst *in, EVP_MAC_CTX *mac, const char *zone,
                       caracal_audit_finding_fn found, void *ud, int explicit_zone,
                       uint64_t *problems, caracal_error *err)
{
	char name[AF_ZONE_MAX + 16], path[PATH_MAX], cp_path[PATH_MAX], why[AF_WHY_MAX];
	af_checkpoint cp;
	af_index scratch = {0};
	off_t limit = -1;
	int cprc, fd, rc;
	scan_ctx sc;

	path_of(in, zone, AF_LEDGER_SUFFIX, path, sizeof path);
	path_of(in, zone, AF_CHECKPOINT_SUFFIX, cp_path, sizeof cp_path);
	snprintf(name, sizeof name, "%s%s", zone, AF_LEDGER_SUFFIX);
	memset(&sc, 0, sizeof sc);
	sc.in = in;
	sc.mac = mac;
	sc.zone = zone;
	sc.path = path;
	sc.cp_path = cp_path;
	sc.index = &scratch;
	sc.found = found;
	sc.ud = ud;

	/* The checkpoint first, then the size: the ledger then holds at least
	 * what the checkpoint names, even with an append in between. */
	pthread_mutex_lock(&in->lock);
	cprc = checkpoint_load(in, mac, zone, &cp, why, sizeof why, err);
	af_zone *z = zone_find(in, zone);
	if (z != NULL && z->fd >= 0)
		limit = z->size;
	pthread_mutex_unlock(&in->lock);
	if (cprc == CP_IOERR)
		return err != NULL ? err->code : CARACAL_E_UNAVAIL;
	if (cprc == CP_BAD)
		report(&sc, 0, 0, "%s", why);
	sc.cp = cprc == CP_OK ? &cp : NULL;

	fd = openat(in->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (cprc == CP_OK)
			report(&sc, 1, 0,
			       "ledger file %s missing but the checkpoint records seq %" PRIu64
			       " (ledger deleted)",
			       path, cp.seq);
		else if (cprc == CP_NONE && explicit_zone)
			return caracal_error_set(err, CARACAL_E_NOTFOUND,
			                         "zone %s: no ledger at %s", zone, path);
		*problems += sc.problems;
		return CARACAL_OK;
	}
	if (fd < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot open %s: %s", path,
		                         strerror(errno));
	rc = scan_fd(&sc, fd, limit, err);
	close(fd);
	index_free(&scratch);
	if (rc != CARACAL_OK)
		return rc;
	scan_finish(&sc);
	if (sc.torn && (sc.cp == NULL || sc.last_seq >= sc.cp->seq))
		in->host->log(in->scope, CARACAL_LOG_WARN,
		              "zone %s: incomplete last line at %s:%" PRIu64
		              " beyond the checkpoint (an interrupted write, never acknowledged "
		              "as durable; removed when the zone is next opened for appending)",
		              zone, path, sc.lines + 1);
	*problems += sc.problems;
	return CARACAL_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* Every zone with a ledger or checkpoint file, sorted, unique. */
static int list_zones(af_inst *in, char ***out, size_t *count, caracal_error *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int fd = openat(in->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "cannot list %s: %s", in->dir,
		                         strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), k;
		if (ends_with(de->d_name, len, AF_LEDGER_SUFFIX))
			k = strlen(AF_LEDGER_SUFFIX);
		else if (ends_with(de->d_name, len, AF_CHECKPOINT_SUFFIX))
			k = strlen(AF_CHECKPOINT_SUFFIX);
		else
			continue;
		char *zone = strndup(de->d_name, len - k);
		if (zone != NULL && !af_zone_valid(zone)) {
			free(zone);
			continue;
		}
		if (zone == NULL ||
		    (n == cap && (cap = cap ? cap * 2 : 16,
		                  names = realloc(names, cap * sizeof *names)) == NULL)) {
			free(zone);
			for (size_t i = 0; i < n && names; i++)
				free(names[i]);
			free(names);
			closedir(d);
			return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
		}
		names[n++] = zone;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u > 0 && strcmp(names[u - 1], names[i]) == 0)
			free(names[i]);
		else
			names[u++] = names[i];
	}
	*out = names;
	*count = u;
	return CARACAL_OK;
}

int af_verify(void *tctx, const char *zone_id, caracal_audit_finding_fn found, void *ud,
              caracal_error *err)
{
	af_inst *in = tctx;
	uint64_t problems = 0;
	int rc = CARACAL_OK;
	EVP_MAC_CTX *mac;

	if (zone_id != NULL && !af_zone_valid(zone_id))
		return caracal_error_set(err, CARACAL_E_INVAL, "invalid zone id");
	mac = EVP_MAC_CTX_dup(in->mac_tmpl);
	if (mac == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	if (zone_id != NULL) {
		rc = verify_zone(in, mac, zone_id, found, ud, 1, &problems, err);
	} else {
		char **zones = NULL;
		size_t n = 0;
		rc = list_zones(in, &zones, &n, err);
		for (size_t i = 0; i < n; i++) {
			if (rc == CARACAL_OK)
				rc = verify_zone(in, mac, zones[i], found, ud, 0, &problems, err);
			free(zones[i]);
		}
		free(zones);
	}
	EVP_MAC_CTX_free(mac);
	if (rc != CARACAL_OK)
		return rc;
	if (problems > 0) {
		in->host->metric_count(in->scope, "integrity_failures", NULL, problems);
		return caracal_error_set(err, CARACAL_E_INTEGRITY,
		                         "%" PRIu64 " integrity problem(s) found in %s", problems,
		                         in->dir);
	}
	return CARACAL_OK;
}

/* ------------------------------------------------------------ lifecycle */

static void *flusher_main(void *arg)
{
	af_inst *in = arg;
	int64_t period_us = in->interval_ms * 1000 / 2;
	if (period_us < 1000)
		period_us = 1000;
	pthread_mutex_lock(&in->lock);
	while (!in->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(period_us / 1000000);
		ts.tv_nsec += (long)(period_us % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&in->cond, &in->lock, &ts);
		if (in->stopping)
			break;
		for (af_zone *z = in->zones; z != NULL; z = z->next) {
			caracal_error e = {0};
			if (!z->broken)
				zone_sync(in, z, &e);
		}
	}
	pthread_mutex_unlock(&in->lock);
	return NULL;
}

void af_instance_stop(void *instance)
{
	af_inst *in = instance;
	if (in == NULL || !in->flusher_running)
		return;
	pthread_mutex_lock(&in->lock);
	in->stopping = 1;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	pthread_join(in->flusher, NULL);
	in->flusher_running = 0;
}

void af_instance_destroy(void *instance)
{
	af_inst *in = instance;
	if (in == NULL)
		return;
	af_instance_stop(in);
	if (in->lock_init) {
		caracal_error err = {0};
		pthread_mutex_lock(&in->lock);
		if (flush_locked(in, &err) != CARACAL_OK)
			in->host->log(in->scope, CARACAL_LOG_ERROR, "final flush: %s", err.message);
		pthread_mutex_unlock(&in->lock);
		pthread_mutex_destroy(&in->lock);
		pthread_cond_destroy(&in->cond);
	}
	while (in->zones != NULL) {
		af_zone *z = in->zones;
		in->zones = z->next;
		if (z->fd >= 0)
			close(z->fd);
		index_free(&z->index);
		free(z);
	}
	if (in->dirfd >= 0)
		close(in->dirfd);
	EVP_MAC_CTX_free(in->mac_ctx);
	EVP_MAC_CTX_free(in->mac_tmpl);
	EVP_MAC_free(in->mac);
	EVP_MD_free(in->sha256);
	af_buf_free(&in->line);
	in->host->secure_zero(in->sipkey, sizeof in->sipkey);
	free(in);
}

int af_instance_ready(void *instance, caracal_error *err)
{
	af_inst *in = instance;
	struct stat st;
	int rc = CARACAL_OK;
	pthread_mutex_lock(&in->lock);
	if (fstat(in->dirfd, &st) != 0)
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "ledger directory %s: %s", in->dir,
		                       strerror(errno));
	for (af_zone *z = in->zones; z != NULL && rc == CARACAL_OK; z = z->next)
		if (z->broken)
			rc = zone_unavail(z, err);
	pthread_mutex_unlock(&in->lock);
	return rc;
}

static const char *where(const caracal_host *h, const caracal_cfg *cfg, const char *key)
{
	const caracal_cfg *n = h->cfg_child(cfg, key);
	const char *w = n != NULL ? h->cfg_where(n) : NULL;
	if (w == NULL)
		w = cfg != NULL ? h->cfg_where(cfg) : NULL;
	return w != NULL ? w : "config";
}

static int read_config(af_inst *in, const caracal_cfg *cfg, const char **path, unsigned char *key,
                       size_t *key_len, caracal_error *err)
{
	const caracal_host *h = in->host;
	const char *fsync_mode = "always";
	int rc;

	rc = h->cfg_string(cfg, "path", path, err);
	if (rc == CARACAL_E_NOTFOUND || (rc == CARACAL_OK && (*path)[0] == '\0'))
		return caracal_error_set(
		    err, CARACAL_E_INVAL,
		    "%s: audit_file: 'path' (the ledger directory) is required",
		    where(h, cfg, "path"));
	if (rc != CARACAL_OK)
		return rc;

	rc = h->cfg_secret(cfg, "hmac_key", key, AF_KEY_MAX, key_len, err);
	if (rc == CARACAL_E_NOTFOUND)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'hmac_key' is required (hmac_key_file or "
		                         "hmac_key_env)",
		                         where(h, cfg, "hmac_key"));
	if (rc == CARACAL_E_TOOBIG)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'hmac_key' longer than %d bytes",
		                         where(h, cfg, "hmac_key"), AF_KEY_MAX);
	if (rc != CARACAL_OK)
		return rc;
	if (*key_len < AF_KEY_MIN)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'hmac_key' is %zu bytes, at least %d "
		                         "required",
		                         where(h, cfg, "hmac_key"), *key_len, AF_KEY_MIN);

	rc = h->cfg_string(cfg, "fsync", &fsync_mode, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (strcmp(fsync_mode, "always") == 0)
		in->batch = 0;
	else if (strcmp(fsync_mode, "batch") == 0)
		in->batch = 1;
	else
		return caracal_error_set(
		    err, CARACAL_E_INVAL,
		    "%s: audit_file: 'fsync' must be always or batch, not '%s'",
		    where(h, cfg, "fsync"), fsync_mode);

	in->interval_ms = 100;
	rc = h->cfg_duration_ms(cfg, "fsync_interval", &in->interval_ms, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (in->interval_ms < 1 || in->interval_ms > 60000)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'fsync_interval' must be 1ms..60s",
		                         where(h, cfg, "fsync_interval"));
	in->max_records = 256;
	rc = h->cfg_int(cfg, "fsync_max_records", &in->max_records, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (in->max_records < 1 || in->max_records > 1000000)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'fsync_max_records' must be 1..1000000",
		                         where(h, cfg, "fsync_max_records"));
	in->checkpoint_every = 1000;
	rc = h->cfg_int(cfg, "checkpoint_every", &in->checkpoint_every, err);
	if (rc != CARACAL_OK && rc != CARACAL_E_NOTFOUND)
		return rc;
	if (in->checkpoint_every < 1 || in->checkpoint_every > 1000000000)
		return caracal_error_set(err, CARACAL_E_INVAL,
		                         "%s: audit_file: 'checkpoint_every' must be 1..1000000000",
		                         where(h, cfg, "checkpoint_every"));
	return CARACAL_OK;
}

static int open_dir(af_inst *in, const char *path, caracal_error *err)
{
	struct stat st;
	int n;
	if (path[0] == '/') {
		n = snprintf(in->dir, sizeof in->dir, "%s", path);
	} else {
		const char *base = in->host->data_dir != NULL ? in->host->data_dir() : NULL;
		if (base == NULL || base[0] != '/')
			return caracal_error_set(err, CARACAL_E_INVAL,
			                         "audit_file: relative path '%s' needs an absolute "
			                         "data_dir",
			                         path);
		n = snprintf(in->dir, sizeof in->dir, "%s/%s", base, path);
	}
	if (n < 0 || (size_t)n >= sizeof in->dir - AF_ZONE_MAX - 32)
		return caracal_error_set(err, CARACAL_E_INVAL, "audit_file: path too long");
	if (mkdir(in->dir, 0700) != 0 && errno != EEXIST)
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "audit_file: cannot create ledger directory %s: %s",
		                         in->dir, strerror(errno));
	in->dirfd = open(in->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in->dirfd < 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "audit_file: cannot open ledger directory %s: %s", in->dir,
		                         strerror(errno));
	if (fstat(in->dirfd, &st) != 0)
		return caracal_error_set(err, CARACAL_E_UNAVAIL, "audit_file: stat %s: %s", in->dir,
		                         strerror(errno));
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return caracal_error_set(
		    err, CARACAL_E_DENIED,
		    "audit_file: ledger directory %s is group- or world-writable "
		    "(mode %04o); run chmod go-w on it",
		    in->dir, (unsigned)(st.st_mode & 07777));
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return caracal_error_set(
		    err, CARACAL_E_DENIED,
		    "audit_file: ledger directory %s is owned by uid %u, not by "
		    "the daemon (uid %u) or root",
		    in->dir, (unsigned)st.st_uid, (unsigned)geteuid());
	return CARACAL_OK;
}

static int crypto_setup(af_inst *in, const unsigned char *key, size_t key_len, caracal_error *err)
{
	struct ossl_lib_ctx_st *libctx = in->host->ossl_libctx ? in->host->ossl_libctx() : NULL;
	char digest_name[] = "SHA256";
	OSSL_PARAM params[2];
	unsigned char md[32];
	unsigned int md_len = 0;
	char hex[65];

	in->mac = EVP_MAC_fetch(libctx, "HMAC", NULL);
	in->sha256 = EVP_MD_fetch(libctx, "SHA256", NULL);
	if (in->mac == NULL || in->sha256 == NULL)
		return caracal_error_set(err, CARACAL_E_UNAVAIL,
		                         "audit_file: HMAC-SHA256 unavailable from OpenSSL");
	in->mac_tmpl = EVP_MAC_CTX_new(in->mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (in->mac_tmpl == NULL || EVP_MAC_init(in->mac_tmpl, key, key_len, params) != 1 ||
	    (in->mac_ctx = EVP_MAC_CTX_dup(in->mac_tmpl)) == NULL)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "audit_file: HMAC setup failed");
	if (EVP_Digest(key, key_len, md, &md_len, in->sha256, NULL) != 1 || md_len != 32)
		return caracal_error_set(err, CARACAL_E_INTERNAL, "audit_file: SHA-256 failed");
	af_hex(md, 32, hex);
	memcpy(in->kid, hex, 8);
	in->kid[8] = '\0';
	in->host->secure_zero(md, sizeof md);
	in->host->secure_zero(hex, sizeof hex);
	return CARACAL_OK;
}

int af_instance_create(const caracal_host *host, const caracal_scope *scope, const caracal_cfg *cfg,
                       void **instance, caracal_error *err)
{
	unsigned char key[AF_KEY_MAX];
	size_t key_len = 0;
	const char *path = NULL;
	pthread_condattr_t ca;
	af_inst *in;
	int rc;

	*instance = NULL;
	in = calloc(1, sizeof *in);
	if (in == NULL)
		return caracal_error_set(err, CARACAL_E_NOMEM, "out of memory");
	in->host = host;
	in->scope = scope;
	in->dirfd = -1;

	rc = read_config(in, cfg, &path, key, &key_len, err);
	if (rc == CARACAL_OK)
		rc = crypto_setup(in, key, key_len, err);
	/* The key now lives only inside the OpenSSL contexts (which cleanse it
	 * when freed); our copy goes at once. */
	host->secure_zero(key, sizeof key);
	if (rc == CARACAL_OK)
		rc = open_dir(in, path, err);
	if (rc == CARACAL_OK && host->random_bytes(in->sipkey, sizeof in->sipkey) != CARACAL_OK)
		rc = caracal_error_set(err, CARACAL_E_UNAVAIL, "audit_file: no randomness");
	if (rc != CARACAL_OK)
		goto fail;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&in->lock, NULL) != 0 || pthread_cond_init(&in->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		rc = caracal_error_set(err, CARACAL_E_NOMEM, "audit_file: mutex init failed");
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	in->lock_init = 1;
	if (in->batch) {
		if (pthread_create(&in->flusher, NULL, flusher_main, in) != 0) {
			rc = caracal_error_set(err, CARACAL_E_UNAVAIL,
			                       "audit_file: cannot start the flusher thread");
			goto fail;
		}
		in->flusher_running = 1;
	}
	host->log(scope, CARACAL_LOG_INFO,
	          "ledger %s, fsync %s, key id %s, checkpoint every %" PRId64 " records", in->dir,
	          in->batch ? "batch" : "always", in->kid, in->checkpoint_every);
	*instance = in;
	return CARACAL_OK;
fail:
	af_instance_destroy(in);
	return rc;
}

/* ------------------------------------------------------------ descriptor parts */

const caracal_cfg_key af_config_schema[] = {
    {"path", CARACAL_CFG_STRING, CARACAL_CFG_REQUIRED,
     "directory of the ledger files (relative to data_dir)"},
    {"hmac_key", CARACAL_CFG_SECRET, CARACAL_CFG_REQUIRED,
     "chain HMAC key, at least 32 bytes (hmac_key_file or hmac_key_env)"},
    {"fsync", CARACAL_CFG_STRING, 0, "always (default) or batch"},
    {"fsync_interval", CARACAL_CFG_DURATION, 0, "batch: fsync at least this often (100ms)"},
    {"fsync_max_records", CARACAL_CFG_INT, 0, "batch: fsync after this many records (256)"},
    {"checkpoint_every", CARACAL_CFG_INT, 0, "write a checkpoint every N records (1000)"},
    {NULL, 0, 0, NULL},
};

const caracal_audit_ops af_audit_ops = {
    .size = sizeof(caracal_audit_ops),
    .append = af_append,
    .flush = af_flush,
    .verify = af_verify,
};

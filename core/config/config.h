/*
 * config.h — caracald's configuration: YAML parsed into a host-owned tree.
 *
 * The tree is the only form in which the rest of the daemon and the plugins
 * see configuration (plugins through the caracal_host accessors, which wrap
 * the functions below). Every node remembers the file and line it came from
 * (or the --set argument that wrote it), so every error can name them.
 *
 * Lifetime: a config_tree owns every node, key and value in it; nodes are
 * valid until config_tree_free(). A tree is immutable once validated and may
 * then be read from any thread.
 */
#ifndef CARACAL_CORE_CONFIG_H
#define CARACAL_CORE_CONFIG_H

#include <caracal/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a config file may be; beyond them loading fails. */
#define CONFIG_MAX_FILE_BYTES (1u << 20) /* 1 MiB */
#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_NODES 65536
#define CONFIG_MAX_SCALAR_BYTES 65536

typedef enum config_kind {
	CONFIG_SCALAR = 1,
	CONFIG_MAP = 2,
	CONFIG_SEQ = 3,
} config_kind;

/* The node type behind the opaque caracal_cfg of the plugin ABI. */
struct caracal_cfg {
	config_kind kind;
	const char *value; /* SCALAR: NUL-terminated text (YAML null -> "") */
	size_t value_len;  /* SCALAR: length of value */
	size_t count;      /* MAP, SEQ: number of children */
	const char **keys; /* MAP: keys[i] names children[i] */
	struct caracal_cfg **children;
	const char *where; /* "file:line" or "--set KEY=VALUE" */
};
typedef struct caracal_cfg config_node;

typedef struct config_tree config_tree;

/* Parse a YAML file. Anchors, aliases, tags other than the core schema and
 * duplicate keys are errors; so is a top level that is not a mapping. On
 * error returns NULL and writes "file:line: message" into err.
 * Also errors: more than one document, an empty stream, keys that are not
 * scalars or are empty, scalars containing NUL, and exceeding any of the
 * CONFIG_MAX_* bounds (TOOBIG for the file size, INVAL for the others).
 * The where of a mapping's value is the line of its key. A file name longer
 * than 200 bytes is shown as "..." and its last 197 bytes. Error messages
 * quote keys (escaped, cut to 64 bytes) but never scalar values. */
config_tree *config_tree_load_file(const char *path, caracal_error *err);

/* Parse YAML held in memory (name is used in error messages). */
config_tree *config_tree_load_buffer(const char *name, const char *yaml, size_t len,
                                     caracal_error *err);

void config_tree_free(config_tree *tree);

const config_node *config_tree_root(const config_tree *tree);

/* Apply one --set KEY=VALUE: KEY is a dotted path of mapping keys; missing
 * intermediate mappings are created; the target must be absent or a scalar.
 * The new scalar's where is "--set KEY=VALUE". INVAL with a message naming
 * the argument otherwise. */
int config_tree_set(config_tree *tree, const char *assignment, caracal_error *err);

/* Child of a mapping by key (NULL when absent or node is not a mapping).
 * A dotted key ("threads.loops") walks nested mappings; a key whose text
 * itself contains a dot is reachable only by iterating the mapping (and is
 * an unknown key to config_validate). */
const config_node *config_get(const config_node *node, const char *key);

/* Typed accessors. NOTFOUND when the key is absent, INVAL (message with
 * where and key) when present with another type or out of range. */
int config_get_string(const config_node *node, const char *key, const char **out,
                      caracal_error *err);
int config_get_int(const config_node *node, const char *key, int64_t *out, caracal_error *err);
int config_get_bool(const config_node *node, const char *key, int *out, caracal_error *err);
int config_get_duration_ms(const config_node *node, const char *key, int64_t *out,
                           caracal_error *err);
int config_get_size(const config_node *node, const char *key, uint64_t *out, caracal_error *err);

/* Parse one scalar of a given type (used by the getters and the validator).
 * CARACAL_OK, or CARACAL_E_INVAL on anything else (out is then unchanged).
 * No whitespace, no '+', no fractions anywhere.
 *  - int: decimal int64 with an optional leading '-'; overflow is an error.
 *  - bool: true/false, yes/no, on/off, in any letter case.
 *  - duration: digits then one unit of ms, s, m, h, d; plain digits are
 *    seconds ("30" = 30 s). No sign, no compound forms ("1m30s"); a result
 *    above INT64_MAX milliseconds is an error.
 *  - size: digits then an optional binary unit: k/K/KiB, m/M/MiB, g/G/GiB,
 *    t/T/TiB (all powers of 1024; "KB" and "kb" are rejected as ambiguous);
 *    a result above UINT64_MAX is an error. */
int config_parse_int(const char *text, int64_t *out);
int config_parse_bool(const char *text, int *out);
int config_parse_duration_ms(const char *text, int64_t *out);
int config_parse_size(const char *text, uint64_t *out);

/* Resolve SECRET key K of node: exactly one of K_file (a path; the file's
 * content, one trailing newline stripped) or K_env (an environment variable
 * name). An inline K is rejected when production != 0 and accepted with a
 * warning otherwise. Copies into buf (cap bytes), *len receives the length.
 * NOTFOUND when none of them is present; INVAL when the file is missing,
 * unreadable, empty or the variable is unset (message names where, never the
 * value); TOOBIG when cap is too small.
 * A relative K_file is taken under base_dir (caracald passes data_dir; NULL:
 * the working directory); it must be a
 * regular file of at most 64 KiB (plus the stripped "\n" or "\r\n"); a file
 * that group or others may access (mode & 077) is rejected when production
 * != 0 and logged as a warning otherwise. Temporary copies are cleansed. A
 * "--set K=V" origin is shown as "--set K" in messages. Registering the value
 * for log redaction is the caller's job (the host's cfg_secret). */
int config_get_secret(const config_node *node, const char *key, int production,
                      const char *base_dir, unsigned char *buf, size_t cap, size_t *len,
                      caracal_error *err);

/* Validate a mapping against a schema (the caracal_cfg_key list of the ABI,
 * {NULL}-terminated). Schema names may be dotted ("threads.loops") to describe
 * nested mappings; a MAP entry accepts any subtree. A SECRET key K is written
 * as K_file or K_env (or K itself, inline). Keys in ignore (NULL-terminated,
 * may be NULL) are skipped. Every problem is an error of the form
 * "file:line: key 'x': message"; the first is returned in err and all of them
 * are passed to report (may be NULL). Returns OK or INVAL. */
typedef void (*config_report_fn)(void *ud, const char *message);
int config_validate(const config_node *node, const caracal_cfg_key *schema,
                    const char *const *ignore, config_report_fn report, void *ud,
                    caracal_error *err);

#endif /* CARACAL_CORE_CONFIG_H */

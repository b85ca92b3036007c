/* audit_chain.h: the audit log's hashing, canonical encoding and Ed25519 key,
 * shared by audit.c (writing) and audit_verify.c (checking). Private to audit/. */
#ifndef MSS_AUDIT_CHAIN_H
#define MSS_AUDIT_CHAIN_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

struct sql;

#define AUDIT_HASH_LEN 32 /* BLAKE2b-256 */
#define AUDIT_HASH_HEX (AUDIT_HASH_LEN * 2 + 1)
#define AUDIT_SIG_HEX (crypto_sign_BYTES * 2 + 1)
#define AUDIT_CHECKPOINT_EVERY 1000

/* The fields that are hashed, in their canonical order. NULL counts as "". */
struct audit_fields {
	int64_t seq;
	int64_t time;
	const char *f[8]; /* actor auth action target detail result peer patient */
};

/* hash = BLAKE2b-256(prev || canonical(fields)). Deterministic, never fails. */
void audit_chain_hash(const unsigned char prev[AUDIT_HASH_LEN], const struct audit_fields *fl,
                      unsigned char out[AUDIT_HASH_LEN]);

/* The signed statements: "this seq has this hash" for a checkpoint or for the head.
 * kind is "checkpoint" or "head"; msg receives at most 96 bytes; returns its length. */
size_t audit_chain_statement(const char *kind, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                             unsigned char msg[96]);

/* The key directory: the override if set, else data_dir/keys. Returns 0, or -1 when
 * there is none (no data_dir) or it does not fit. */
int audit_key_dir(const char *data_dir, const char *override, char *out, size_t outlen);
/* Loads KEYDIR/audit.key, creating it (and audit.pub) when missing: written to a
 * temporary file with mode 0600 and linked into place, so concurrent creators agree on
 * one key. Returns 0, or -1 (no key directory, unreadable, wrong size) with err. */
int audit_key_load_or_create(const char *keydir, unsigned char sk[crypto_sign_SECRETKEYBYTES], char *err,
                             size_t errlen);
/* Loads the public key from KEYDIR/audit.pub alone (verification never needs, nor
 * should be able to read, the secret key). Returns 0 or -1 with err. */
int audit_key_load_public(const char *keydir, unsigned char pk[crypto_sign_PUBLICKEYBYTES], char *err,
                          size_t errlen);
struct sql;
/* Reads the last record's seq and hash (0 and zeros for an empty log; zeros for a
 * damaged hash, which verification names). Returns 0 or -1 with err. */
int audit_read_tail(struct sql *db, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], char *err,
                    size_t errlen);
/* Checks sig_hex over the statement (kind, seq, hash_hex) with pk: 1 when it verifies. */
int audit_sig_ok(const unsigned char *pk, const char *kind, int64_t seq, const char *hash_hex,
                 const char *sig_hex);
/* Hex decoding of exactly n bytes. Returns 0, or -1 when hex is not 2n hex digits. */
int audit_unhex(const char *hex, unsigned char *out, size_t n);

/* Inside a write transaction: one record after the tail, stamped when (unix time);
 * *seq receives its number. Returns 0 or -1 with err. */
int audit_append_locked(struct sql *db, const struct audit_event *ev, int64_t when, int64_t *seq, char *err,
                        size_t errlen);
/* Inside a write transaction: the deferred records not written yet (audit_defer.c);
 * *seq receives the last one's number (unchanged when none). Returns 0 or -1. */
int audit_deferred_write_locked(struct sql *db, int64_t *seq, char *err, size_t errlen);
/* The transaction that wrote them committed: they are done. */
void audit_deferred_committed(void);
/* In a write transaction of its own: the deferred records first, then ev when not
 * NULL, one commit (the chain keeps the decisions' order); the signer told. 0 or -1. */
int audit_commit_own(struct sql *db, const struct audit_event *ev, char *err, size_t errlen);

#endif

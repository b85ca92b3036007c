/* crypto.h: libsodium helpers: passwords, keys, encryption at rest.
 *
 * Keys never reach logs or error strings. Key buffers are wiped with sodium_memzero
 * when the caller is done (crypto_key_wipe). */
#ifndef MSS_CRYPTO_H
#define MSS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#include "lib/buf.h"

#define CRYPTO_KEY_LEN 32       /* crypto_secretstream_xchacha20poly1305_KEYBYTES */
#define CRYPTO_HASH_STR_LEN 128 /* crypto_pwhash_STRBYTES */
/* A wrapped account key: "v2." then, as hex, nonce (24) + key (32) + tag (16) of
 * XChaCha20-Poly1305 IETF with the account's lowercased address as associated data
 * (147 chars + NUL). The first format (secretbox, 144 hex digits, bound to no account)
 * is read by mssctl migrate alone, which rewrites it (crypto_key_unwrap_v1). */
#define CRYPTO_WRAPPED_HEX_LEN 148
#define CRYPTO_WRAPPED_PREFIX "v2."
#define CRYPTO_WRAPPED_V1_HEX_LEN 145

/* sodium_init; returns 0 or -1. Call once per process before anything else here. */
int crypto_init(void);

/* Argon2id hash (crypto_pwhash_str, interactive limits). Returns 0 or -1. */
int crypto_password_hash(const char *password, char out[CRYPTO_HASH_STR_LEN]);
/* true when password matches hash. Constant time in the password. */
bool crypto_password_verify(const char *hash, const char *password);
/* Verifies against a fixed dummy hash: for unknown users, so timing does not tell
 * whether an account exists. Always false. */
bool crypto_password_verify_dummy(const char *password);

/* Creates a new random master key file (mode 0400, O_EXCL; owned by the caller: root
 * for mssctl init, so that only the daemons' root key agent reads it). Returns 0 or
 * -1 + err. */
int crypto_master_key_create(const char *path, char *err, size_t errlen);
/* Loads the master key; refuses a file readable by group or others. */
int crypto_master_key_load(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/* New random per-account key, and its form wrapped by the master key for account (its
 * address, compared lowercased: the associated data), so that the wrapped key of one
 * account presented under another's name does not unwrap. Returns 0 or -1. */
void crypto_key_generate(unsigned char key[CRYPTO_KEY_LEN]);
int crypto_key_wrap(const unsigned char master[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                    const char *account, char out_hex[CRYPTO_WRAPPED_HEX_LEN]);
/* Returns 0, or -1 when the wrapped key was altered, wrapped for another account, in
 * the first format, or the master key is wrong (key zeroed). */
int crypto_key_unwrap(const unsigned char master[CRYPTO_KEY_LEN], const char *wrapped_hex,
                      const char *account, unsigned char key[CRYPTO_KEY_LEN]);
/* The first format (no account bound), for mssctl migrate's rewrite and its tests only:
 * no daemon reads or writes it. Same returns as above. */
int crypto_key_wrap_v1(const unsigned char master[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                       char out_hex[CRYPTO_WRAPPED_V1_HEX_LEN]);
int crypto_key_unwrap_v1(const unsigned char master[CRYPTO_KEY_LEN], const char *wrapped_hex,
                         unsigned char key[CRYPTO_KEY_LEN]);
void crypto_key_wipe(unsigned char key[CRYPTO_KEY_LEN]);

/* A subkey of key for one purpose (crypto_kdf, BLAKE2b), so that one account key never
 * serves two constructions (blobs and records). ctx: exactly 8 characters. */
void crypto_subkey(unsigned char out[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN], uint64_t id,
                   const char ctx[8]);
/* Small records kept in the database (a message's cached metadata): XChaCha20-Poly1305
 * with a random nonce, stored as nonce (24) | ciphertext | tag (16); ad, a short
 * label, binds the record to its use. seal appends the record to out; open appends the
 * plaintext and returns 0, or -1 when the record was altered, cut or sealed under
 * another key (out unchanged). */
#define CRYPTO_RECORD_OVERHEAD 40
int crypto_record_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *ad, const void *p, size_t n,
                       struct buf *out);
int crypto_record_open(const unsigned char key[CRYPTO_KEY_LEN], const char *ad, const void *p, size_t n,
                       struct buf *out);

/* Streaming encryption of one blob (XChaCha20-Poly1305 secretstream) into a file:
 * written to a temporary file in the destination's directory, then on commit fsynced,
 * renamed to final_path, and the directory fsynced. Durable once commit returns 0. */
/* How the temporary file's name begins (the rest random): store_blob_sweep_pass removes old
 * ones a killed writer left. */
#define CRYPTO_BLOB_TMP_PREFIX ".tmp-blob-"
struct blob_writer;
struct blob_writer *crypto_blob_create(const char *final_path, const unsigned char key[CRYPTO_KEY_LEN],
                                       char *err, size_t errlen);
int crypto_blob_write(struct blob_writer *w, const void *p, size_t n, char *err, size_t errlen);
int crypto_blob_commit(struct blob_writer *w, char *err, size_t errlen); /* frees w */
void crypto_blob_abort(struct blob_writer *w);                           /* removes temp, frees w */
/* One-shot write of a whole buffer (create + write + commit). */
int crypto_blob_write_file(const char *final_path, const unsigned char key[CRYPTO_KEY_LEN], const void *p,
                           size_t n, char *err, size_t errlen);
/* The same blob format in memory, for a blob kept in its database row: appends the
 * whole encrypted blob to out (no file, no fsync: the caller's transaction makes it
 * durable). Returns 0, or -1 when out's limit is reached (out unchanged). */
int crypto_blob_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *p, size_t n, struct buf *out,
                     char *err, size_t errlen);
/* The encrypted size of a blob of n plaintext bytes (file or memory alike). */
size_t crypto_blob_sealed_size(size_t n);
/* Decrypts a whole blob, appending the plaintext to out. Returns 0, or -1 when the file is
 * missing, truncated or altered (authentication fails), with err. */
int crypto_blob_read(const char *path, const unsigned char key[CRYPTO_KEY_LEN], struct buf *out, char *err,
                     size_t errlen);
/* The same from the n encrypted bytes at p (what names it in errors). */
int crypto_blob_read_mem(const void *p, size_t n, const char *what, const unsigned char key[CRYPTO_KEY_LEN],
                         struct buf *out, char *err, size_t errlen);
/* Streaming decryption: the plaintext chunk by chunk (64 KiB each), each authenticated
 * before it is given out, so a reader that stops early never saw unauthenticated
 * bytes; the end is verified when crypto_blob_next returns 0. */
struct blob_reader;
struct blob_reader *crypto_blob_open(const char *path, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                                     size_t errlen);
/* The same on the n encrypted bytes at p (copied: p may go once it returns). */
struct blob_reader *crypto_blob_open_mem(const void *p, size_t n, const char *what,
                                         const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/* Returns 1 with the next chunk in *p, *n (valid until the next call), 0 at the
 * verified end, -1 when the blob is truncated or altered (err). */
int crypto_blob_next(struct blob_reader *r, const unsigned char **p, size_t *n, char *err, size_t errlen);
void crypto_blob_close(struct blob_reader *r); /* wipes the state; NULL is fine */

/* Write-only delivery (issue 12): an account's X25519 key pair is derived from its
 * symmetric key (crypto_kdf subkey "mss_xkey" as the seed of crypto_box_seed_keypair),
 * so the secret half is exactly as protected as the account key the master key wraps;
 * the public half is stored plainly. A message key is sealed to the public key
 * (crypto_box_seal: an ephemeral sender key, anonymous, no secret needed to write) and
 * opened only with the secret key. */
#define CRYPTO_PUBLIC_KEY_LEN 32 /* crypto_box_PUBLICKEYBYTES */
#define CRYPTO_SECRET_KEY_LEN 32 /* crypto_box_SECRETKEYBYTES */
#define CRYPTO_SEALED_KEY_LEN 80 /* crypto_box_SEALBYTES (48) + CRYPTO_KEY_LEN */
void crypto_keypair_derive(const unsigned char account_key[CRYPTO_KEY_LEN],
                           unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char sk[CRYPTO_SECRET_KEY_LEN]);
/* A service's key pair, derived from the master key (crypto_kdf subkey ctx, exactly 8
 * characters, as the seed of crypto_box_seed_keypair): the outbound queue's ("mssqpair"),
 * whose public half lets any process queue a message and whose secret half only the
 * queue process and mssctl are given (issue 12). */
void crypto_service_keypair(const unsigned char master[CRYPTO_KEY_LEN], const char ctx[8],
                            unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char sk[CRYPTO_SECRET_KEY_LEN]);
/* Seals key to pk. Returns 0, or -1 when pk is not a usable public key. */
int crypto_key_seal(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                    unsigned char sealed[CRYPTO_SEALED_KEY_LEN]);
/* Returns 0 with key, or -1 when sealed is not n == CRYPTO_SEALED_KEY_LEN octets
 * sealed to this pair (altered, cut, or another account's). */
int crypto_key_seal_open(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                         const unsigned char sk[CRYPTO_SECRET_KEY_LEN], const void *sealed, size_t n,
                         unsigned char key[CRYPTO_KEY_LEN]);

/* fsyncs the directory that holds path (after create/rename/unlink). */
int crypto_fsync_dir_of(const char *path);

#endif

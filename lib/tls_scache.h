/* tls_scache.h: a table of encoded TLS sessions shared by a master and the processes
 * it forks (the OpenSSL backend's server-side session cache, tls_openssl.c).
 *
 * Why: a stateless ticket costs OpenSSL 3.0 a decoding of the whole session, the
 * peer's certificate included, each time it issues one (construct_stateless_ticket
 * copies the session through i2d_SSL_SESSION and d2i_SSL_SESSION) on top of the one
 * that reads the ticket back: 1.8 decodings per MX connection, 14 % of mss-smtpd's CPU
 * on a connection per message. A ticket that names a session kept here costs one
 * encoding to issue and one decoding to resume.
 *
 * The table is MAP_SHARED, made before fork: a session stored by one pre-login process
 * resumes in any other. Slot = session id modulo the size, a newer session replaces
 * the one there. Lock-free: a slot's sequence number is odd while a writer fills it
 * and readers that see it odd or changed treat the slot as empty; a writer that finds
 * it odd does not wait (the session is simply not kept). A process killed while it
 * writes leaves its slot empty, and its bytes unwiped, until the table is replaced
 * (SIGHUP): tls_scache_clear cannot tell a dead writer from a slow one and leaves
 * a slot being written alone. A session put in a slot wipes what the older one left. */
#ifndef MSS_TLS_SCACHE_H
#define MSS_TLS_SCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* An encoded session larger than this (a peer certificate of more than about 3.5 kB)
 * is not kept: that client gets a full handshake each time. */
#define TLS_SCACHE_DER_MAX 4000
#define TLS_SCACHE_ID_MAX 32

struct tls_scache;

/* A table of slots sessions (1..TLS_SCACHE_SLOTS_MAX), empty; NULL if mmap failed. */
#define TLS_SCACHE_SLOTS_MAX 100000
struct tls_scache *tls_scache_new(unsigned slots);
/* Unmaps this process's view (the others keep theirs). NULL is fine. */
void tls_scache_free(struct tls_scache *c);
/* Keeps der (len bytes) under id until expires. Returns 0, or -1 when not kept (too
 * large, bad id, the slot being written by another process). */
int tls_scache_put(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t expires, const uint8_t *der,
                   size_t len);
/* Copies the session kept under id into out (cap bytes) if it has not expired at now.
 * Returns its length, or -1 (none, expired, out too small, or written meanwhile). */
ssize_t tls_scache_get(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, uint8_t *out,
                       size_t cap);
/* Forgets the session kept under id, if it is. */
void tls_scache_del(struct tls_scache *c, const uint8_t *id, size_t id_len);
/* Forgets every session (a new ticket lifetime period, tls_ctx_rotate_tickets). */
void tls_scache_clear(struct tls_scache *c);

#endif

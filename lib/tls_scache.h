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
 * the one there. Lock-free: a slot's sequence number is odd while a writer fills it,
 * and readers that see it odd or changed treat the slot as empty; a writer that finds
 * it odd does not wait (the session is simply not kept). Beside the sequence number,
 * in the same word, are the writer's pid and when it took the slot: a writer killed
 * while it wrote (kill -9, a crash of the process that parses the peer's bytes) leaves
 * its slot odd, and the next writer of that slot, or tls_scache_clear, takes it over
 * once that pid is gone (kill(pid, 0): ESRCH, the master having reaped it) or the
 * slot has been held TLS_SCACHE_WRITE_MAX seconds (the pid reused, the writer
 * stopped), wiping what was left. Readers still never trust a
 * slot: what they copy must match the slot's sequence number before and after, and
 * its sum (a writer taken over while alive may store a few bytes more). A session put
 * in a slot wipes what the older one left. */
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
/* A writer fills a slot in microseconds (4 kB at most, no system call): one that has
 * held a slot for this many seconds is stopped or gone, and its slot is taken over.
 * Not a config key: any value from a second up behaves alike, and a writer taken over
 * while alive costs nothing but its session (readers check the slot's sum). */
#define TLS_SCACHE_WRITE_MAX 10

struct tls_scache;

/* A table of slots sessions (1..TLS_SCACHE_SLOTS_MAX), empty; NULL if mmap failed. */
#define TLS_SCACHE_SLOTS_MAX 100000
struct tls_scache *tls_scache_new(unsigned slots);
/* Unmaps this process's view (the others keep theirs). NULL is fine. */
void tls_scache_free(struct tls_scache *c);
/* Keeps der (len bytes) under id until expires; now is the time (a writer gone from a
 * slot is judged by it). Returns 0, or -1 when not kept (too large, bad id, the slot
 * being written by another live process). */
int tls_scache_put(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, time_t expires,
                   const uint8_t *der, size_t len);
/* Copies the session kept under id into out (cap bytes) if it has not expired at now.
 * Returns its length, or -1 (none, expired, out too small, or written meanwhile). */
ssize_t tls_scache_get(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, uint8_t *out,
                       size_t cap);
/* Forgets the session kept under id, if it is. */
void tls_scache_del(struct tls_scache *c, const uint8_t *id, size_t id_len);
/* Forgets every session (a new ticket lifetime period, tls_ctx_rotate_tickets), and
 * empties the slots whose writers are gone. */
void tls_scache_clear(struct tls_scache *c);

#endif

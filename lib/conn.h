/* conn.h: a client connection as a bounded, buffered stream, plain or TLS.
 *
 * Protocol code reads whole lines and exact byte counts through this reader; it
 * never touches the socket. Every read has a limit and a timeout, and "line too
 * long" is its own result, distinct from EOF and error (Dovecot istream -2,
 * OpenSMTPD io_getline). Writes are buffered until conn_flush, so pipelined
 * replies go out together (RFC 2920). */
#ifndef MSS_CONN_H
#define MSS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/tls.h"

enum conn_result {
	CONN_OK = 0,
	CONN_EOF = -1,     /* peer closed */
	CONN_ERROR = -2,   /* I/O or TLS error */
	CONN_TOOLONG = -3, /* line longer than the limit: the rest of it was discarded */
	CONN_TIMEOUT = -4,
	CONN_STOP = -5, /* the daemon is stopping (SIGTERM): say goodbye and end */
};

/* Flags describing the line just read. */
#define CONN_LINE_BARE_LF 0x1 /* ended with LF not preceded by CR */
#define CONN_LINE_NUL 0x2     /* contains a NUL byte */

struct conn;

/* Wraps an accepted socket (the conn owns fd from now on). peer_ip: textual address. */
struct conn *conn_new(int fd, const char *peer_ip);
/* Flushes nothing, closes TLS and the socket, frees. NULL is fine. */
void conn_free(struct conn *c);
/* Sets the timeout in seconds for each subsequent read/write wait (0 = none). */
void conn_set_timeout(struct conn *c, unsigned seconds);
/* Sets a total deadline, seconds from now (0 = none), for every read and write wait
 * until it is set again: one command, or one DATA/APPEND transfer, must arrive whole
 * by then, however the bytes trickle in; past it, reads return CONN_TIMEOUT. */
void conn_set_deadline(struct conn *c, unsigned seconds);
const char *conn_peer_ip(const struct conn *c);
int conn_fd(const struct conn *c);

/* Reads one line into line (reset first), without its CRLF or LF. At most max bytes
 * of content; a longer line is read to its end, discarded, and CONN_TOOLONG returned.
 * flags (may be NULL) receives CONN_LINE_* bits. */
enum conn_result conn_read_line(struct conn *c, struct buf *line, size_t max, int *flags);
/* Appends exactly n bytes to out (for IMAP literals). out's limit must allow them. */
enum conn_result conn_read_exact(struct conn *c, struct buf *out, size_t n);
/* Appends what is buffered, or else what one read brings (at least one byte, at most
 * max), to out: for a relay that passes bytes on as they come. */
enum conn_result conn_read_some(struct conn *c, struct buf *out, size_t max);
/* Puts n bytes back in front of the input not yet consumed, so that the next read
 * returns them first: a command line read by a pre-login process that belongs to the
 * session process (lib/privsep.h) goes back to be relayed whole. */
void conn_unread(struct conn *c, const void *p, size_t n);
/* True when bytes are already buffered (read but not consumed), in the conn or in TLS:
 * the client pipelined more commands. */
bool conn_has_buffered_input(const struct conn *c);
/* Waits up to timeout_ms for input to be readable (buffered or on the socket), also
 * watching extra_fd (or -1). Returns 1 input ready, 2 extra_fd ready, 0 timeout, -1 error,
 * -2 the process is stopping (conn_request_stop). */
int conn_wait_readable(struct conn *c, int extra_fd, int timeout_ms);
/* The same with a second extra descriptor (or -1): returns 3 when extra_fd2 is ready,
 * checked before extra_fd (imapd's account watch: an ended account outranks a
 * mailbox's news, and on PostgreSQL one wake may make both readable). */
int conn_wait_readable2(struct conn *c, int extra_fd, int extra_fd2, int timeout_ms);

/* Buffers output; conn_flush sends it. Returns 0 or -1 (connection broken). */
int conn_write(struct conn *c, const void *p, size_t n);
int conn_puts(struct conn *c, const char *s);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes v in decimal: what a FETCH response of 100,000 messages does per line, without
 * printf's cost. */
int conn_put_uint(struct conn *c, uint64_t v);
int conn_flush(struct conn *c);

/* Async-signal-safe, for a session's SIGTERM handler: from now on every wait for input
 * returns CONN_STOP (or -2) at once, so the protocol answers "421"/"* BYE" and ends;
 * work in progress (a delivery) finishes first, output still goes out. */
void conn_request_stop(void);
bool conn_stopping(void);

/* Starts TLS as the server (STARTTLS or implicit TLS). Any input buffered before the
 * handshake is discarded first, so that commands injected in the clear before the
 * handshake are never executed after it (CVE-2011-0411). Returns 0, or -1 with err. */
int conn_start_tls(struct conn *c, struct tls_ctx *ctx, char *err, size_t errlen);
bool conn_is_tls(const struct conn *c);
/* Starts RFC 4978 compression both ways (raw DEFLATE) after flushing the pending
 * output, which goes out uncompressed (the OK of COMPRESS). Input already buffered
 * is taken as compressed. Returns 0, or -1 with err. */
int conn_start_deflate(struct conn *c, char *err, size_t errlen);
bool conn_is_deflated(const struct conn *c);
/* The verified TLS peer (zeroed struct when not TLS or no certificate). */
const struct tls_peer *conn_tls_peer(const struct conn *c);

#endif

/* relay_stream.h: the relay's connection as a libetpan mailstream whose bytes go
 * through lib/tls (DESIGN.md "Relay out to the trust space"): libetpan's SMTP client
 * (mailsmtp) writes commands and parses replies; this driver (a mailstream_low_driver)
 * moves the bytes, in the clear until STARTTLS and through our verified TLS session
 * after it. libetpan's own TLS (which never verifies the server) is never used.
 *
 * Limits in the reader: every read waits at most the stage's timeout (RFC 5321
 * 4.5.3.2, set by the client before each command) and a reply may not pass
 * RELAY_REPLY_MAX octets (counted from the last write), so a stalled or babbling
 * peer ends the attempt instead of holding the queue or growing our memory. */
#ifndef MSS_RELAY_STREAM_H
#define MSS_RELAY_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <libetpan/libetpan.h>

#include "lib/tls.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; 128 such lines. */
#define RELAY_REPLY_MAX 65536

struct relay_io {
	int fd;               /* the connected socket (owned by the caller) */
	struct tls_sess *tls; /* NULL before STARTTLS */
	unsigned timeout;     /* seconds each read or write may wait (the current stage's) */
	size_t reply_bytes;   /* read since the last write */
	const char *failure;  /* why the last read or write failed ("timed out", ...) */
};

/* A mailstream over io (plaintext until relay_stream_starttls). Returns NULL on
 * memory failure. mailstream_close frees it, never io's fd nor TLS session. */
mailstream *relay_stream_new(struct relay_io *io);
/* After the server's 220 to STARTTLS: refuses bytes the server sent ahead of the
 * handshake (a STARTTLS injection, CVE-2011-0411 family), then runs our client
 * handshake and moves s onto it. Returns 0, or -1 with err (the handshake's verdict:
 * "certificate has expired", "unable to get local issuer certificate", ...). */
int relay_stream_starttls(mailstream *s, struct relay_io *io, struct tls_ctx *ctx, const char *server_name,
                          unsigned timeout, char *err, size_t errlen);

#endif

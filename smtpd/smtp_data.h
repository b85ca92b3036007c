/* smtp_data.h: the DATA reader (RFC 5321 4.1.1.4, 4.5.2) as a line-fed state
 * machine with no I/O, so that it is unit-tested and fuzzed as is.
 *
 * The session reads each line with conn_read_line (bounded by the line limit) and
 * feeds it here. The reader removes dot-stuffing, stores CRLF lines, counts the size
 * even past the limit (the rest is read and dropped, so the reply comes after the
 * final dot as RFC 1870 6 expects), and notes what the header section lacks.
 *
 * SMTP smuggling (CVE-2023-51764 family): RFC 5321 2.3.8 allows CR and LF in the
 * content only as the CRLF pair. A bare LF ends the session (the client's idea of the
 * end of data may differ from ours); a bare CR (e.g. "\r.\r") cannot move our end of
 * data, which is only CRLF.CRLF, so the message is refused at its end and the session
 * goes on. Refused rather than normalised (Postfix's cleanup_replace_stray_cr_lf turns
 * them into spaces): a health message is never altered in transit, and nothing stored
 * or relayed onward carries a bare CR or LF. */
#ifndef MSS_SMTP_DATA_H
#define MSS_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "smtpd/smtp_reply.h"

enum smtp_data_step {
	SMTP_DATA_MORE,  /* keep feeding lines */
	SMTP_DATA_END,   /* the end-of-data line was read */
	SMTP_DATA_ABORT, /* bare LF: stop reading, reply, close (SMTP smuggling) */
};

#define SMTP_DATA_SLACK 16384 /* room for the trace headers */
/* The message buffer's first size: a common message's text fits without growing. Grown
 * from buf's 64 bytes, a 4 KiB message took seven allocations, each old copy wiped and
 * freed (2 % of an MX session process's CPU); a larger one now starts doubling here. */
#define SMTP_DATA_FIRST 16384
/* The trace headers' buffer's first size (Return-Path, Received with TLS and one
 * recipient, Message-ID and Date when added: 300-600 octets), with its NUL. */
#define SMTP_TRACE_ROOM 1023

struct smtp_data {
	struct buf body; /* unstuffed content, CRLF line ends */
	uint64_t size;   /* content octets seen, also past the limit */
	uint64_t max_size;
	bool too_big;
	bool line_too_long;
	bool has_nul;
	bool bare_lf;
	bool bare_cr;   /* a CR not followed by LF: refused (RPL_BARE_CR) */
	bool in_header; /* still in the header section */
	bool has_message_id;
	bool has_date;
	bool headerless; /* the first line was not a header field */
	unsigned lines;
	/* BDAT (RFC 3030) only: the line being assembled across chunks. */
	struct buf partial;
	size_t line_max; /* longest line kept, without its CRLF */
	bool skipping;   /* dropping the rest of an over-long line */
};

/* Prepares a reader for a message of at most max_size octets. */
void smtp_data_init(struct smtp_data *d, uint64_t max_size);
void smtp_data_free(struct smtp_data *d);
/* The same, for octets arriving in BDAT chunks (RFC 3030): lines of at most line_max
 * octets without CRLF, as in DATA. */
void smtp_data_init_chunked(struct smtp_data *d, uint64_t max_size, size_t line_max);
/* Feeds chunk octets as they are (no dot-stuffing, no end line: RFC 3030 2). Lines are
 * cut at LF across chunk boundaries and judged as DATA lines are: same line limit, NUL,
 * bare LF and bare CR refused, same size limit. Never stores more than max_size plus
 * one line, whatever is fed. */
void smtp_data_chunk(struct smtp_data *d, const char *p, size_t n);
/* Ends chunked data (BDAT LAST): a last line without CRLF is taken as a line. */
void smtp_data_chunk_end(struct smtp_data *d);
/* Notes octets the session discarded unread by the reader (a chunk past max_size). */
void smtp_data_discarded(struct smtp_data *d, uint64_t n);
/* Feeds one line without its line end. flags: CONN_LINE_* from conn_read_line.
 * Only "." ending in CRLF, after a line that ended in CRLF, ends the data: a bare LF
 * anywhere aborts instead (see smtp_reply.c RPL_BARE_LF); a bare CR is noted and the
 * message refused at its end (RPL_BARE_CR). */
enum smtp_data_step smtp_data_line(struct smtp_data *d, const char *line, size_t len, int flags);
/* Notes a line the reader discarded because it passed the line limit. */
void smtp_data_line_dropped(struct smtp_data *d, size_t len_seen);
/* RPL_OK when the message may be delivered, else the reply that refuses it. */
enum smtp_reply_id smtp_data_verdict(const struct smtp_data *d);

/* What the Received: line and the added headers say. Strings are never NULL. */
struct smtp_trace {
	const char *return_path; /* envelope sender, "" for <> */
	const char *helo;
	const char *peer_ip;
	const char *hostname;    /* ours */
	const char *protocol;    /* RFC 3848: ESMTP, ESMTPS, ESMTPSA, SMTP ... */
	const char *tls_version; /* "" when clear */
	const char *tls_cipher;
	const char *queue_id;
	const char *for_rcpt; /* "" when several recipients (they stay private) */
	time_t now;
};

/* Writes into out the header lines to put before the message: Return-Path (RFC 5321
 * 4.4), Received (4.4), then Message-ID and Date when d's header section lacked
 * them (RFC 6409 8.2, 8.3). Returns 0 or -1 past out's limit. */
int smtp_data_trace_headers(const struct smtp_data *d, const struct smtp_trace *t, struct buf *out);
/* Puts hdr (the trace headers) in front of the body, in place: the body buffer keeps
 * SMTP_DATA_SLACK octets beyond max_size for it, so a 25 MiB message is never copied
 * whole. Returns 0 or -1 when hdr is larger than that. */
int smtp_data_prepend(struct smtp_data *d, const struct buf *hdr);
/* RFC 5322 date-time in UTC, e.g. "Sun, 29 Nov 2026 09:25:15 +0000", into out of at
 * least SMTP_DATE_SIZE bytes. */
#define SMTP_DATE_SIZE 64
void smtp_data_date(time_t t, char *out, size_t outlen);

#endif

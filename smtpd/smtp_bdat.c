/* smtp_bdat.c: CHUNKING, the BDAT command (RFC 3030).
 *
 * "BDAT size [LAST]" is followed by exactly size octets. They are always read, also
 * when the command is refused (no TLS, no MAIL, no RCPT, a failed transaction): a
 * refusal that left them unread would make the server run message content as commands
 * (the smuggling SMTP chunking exists to prevent). Only a size that cannot be parsed
 * ends the session, since the octets cannot then be found.
 *
 * The octets go through the DATA reader's chunked entry (smtp_data.h): the same line
 * limit, NUL, bare CR/LF and size rules as DATA, checked across chunk boundaries. A
 * chunk that would pass max_message_size is read in bounded pieces and dropped, never
 * held; the transaction is then refused (552 5.3.4) and reset, as it is for every
 * other refused chunk, so the client's later BDATs get 503 5.5.1 (need MAIL). */

#include <stdlib.h>

#include "lib/log.h"
#include "lib/str.h"
#include "smtpd/smtp_cmd.h"
#include "smtpd/smtp_data.h"

#define BDAT_PIECE 65536 /* octets read at a time */

/* Reads size octets, feeding them to d, or only counting them when d is NULL.
 * Returns 0, or -1 when the connection failed or timed out (replied, closing). */
static int read_chunk(struct smtp_session *s, struct smtp_data *d, uint64_t size)
{
	struct buf piece;
	enum conn_result r = CONN_OK;

	buf_init_wiped(&piece, BDAT_PIECE); /* the message's octets (smtp_data_init) */
	conn_set_timeout(s->conn, s->cfg->smtp_data_timeout);
	/* the whole chunk within smtp_data_timeout, as a DATA transfer */
	conn_set_deadline(s->conn, s->cfg->smtp_data_timeout);
	while (size > 0 && r == CONN_OK) {
		size_t n = size > BDAT_PIECE ? BDAT_PIECE : (size_t)size;

		buf_reset(&piece);
		r = conn_read_exact(s->conn, &piece, n);
		if (r == CONN_OK && d != NULL)
			smtp_data_chunk(d, piece.data, piece.len);
		size -= n;
	}
	conn_set_deadline(s->conn, 0);
	conn_set_timeout(s->conn, s->cfg->smtp_command_timeout);
	buf_free(&piece);
	if (r == CONN_OK)
		return 0;
	if (r == CONN_TIMEOUT)
		smtp_reply(s, RPL_TIMEOUT);
	else if (r == CONN_STOP)
		smtp_reply(s, RPL_SHUTDOWN);
	s->closing = true;
	return -1;
}

static struct smtp_data *begin(struct smtp_session *s)
{
	size_t max = s->cfg->smtp_max_line > 2 ? s->cfg->smtp_max_line - 2 : 998;

	if (s->bdat == NULL) {
		s->bdat = xmalloc(sizeof(*s->bdat));
		smtp_data_init_chunked(s->bdat, s->cfg->max_message_size, max);
	}
	return s->bdat;
}

/* A refused chunk ends the transaction: the reader's verdict, audited like DATA's. */
static void chunk_refused(struct smtp_session *s, struct smtp_data *d)
{
	smtp_txn_end(s, d);
	smtp_session_reset_txn(s);
}

int smtp_cmd_bdat(struct smtp_session *s, const char *args)
{
	struct smtp_data *d;
	enum smtp_reply_id r;
	uint64_t size;
	bool last;

	if (smtp_parse_bdat(args, &size, &last) < 0)
		return smtp_reply(s, RPL_SYNTAX_BDAT);
	r = smtp_cmd_check(s, CMD_NEEDS_HELO | CMD_NEEDS_AUTH | CMD_NEEDS_MAIL | CMD_NEEDS_RCPT);
	if (r != RPL_OK) {
		if (read_chunk(s, NULL, size) < 0)
			return -1;
		return smtp_reply(s, r);
	}
	d = begin(s);
	if (size > d->max_size - (d->size < d->max_size ? d->size : d->max_size)) {
		/* past the limit: read and dropped in pieces, never stored (RFC 1870 6) */
		if (read_chunk(s, NULL, size) < 0)
			return -1;
		smtp_data_discarded(d, size);
	} else if (read_chunk(s, d, size) < 0) {
		return -1;
	}
	if (last) {
		smtp_data_chunk_end(d);
		smtp_txn_end(s, d);
		smtp_session_reset_txn(s);
		return 0;
	}
	if (smtp_data_verdict(d) != RPL_OK) {
		chunk_refused(s, d);
		return 0;
	}
	return smtp_reply(s, RPL_CHUNK_OK);
}

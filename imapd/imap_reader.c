/* imap_reader.c: commands from the client into the incremental parser (see
 * imap_reader.h). */
#include "imapd/imap_reader.h"

#include "imapd/imap_notify.h"

#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "imapd/imap_cmd.h"
#include "lib/log.h"
#include "lib/str.h"

#define LITERAL_PIECE (64 * 1024) /* a streamed literal is read in pieces this big */

/* The octets a command may hold in memory, literals included: a few lines' worth, so
 * that an anonymous or careless client cannot make a session hold megabytes. */
static size_t command_limit(const struct imap_session *s)
{
	return 4 * (size_t)s->cfg->imap_max_line;
}

static enum imap_read read_fail(struct imap_session *s, enum conn_result r)
{
	if (r == CONN_STOP) { /* SIGTERM: RFC 9051 7.1.5, the server is closing */
		conn_set_deadline(s->conn, 0);
		conn_puts(s->conn, "* BYE Server shutting down\r\n");
		conn_flush(s->conn);
		log_info("imap.shutdown", "peer=%s", conn_peer_ip(s->conn));
		return IMAP_READ_CLOSE;
	}
	if (r == CONN_TIMEOUT) {
		conn_set_deadline(s->conn, 0); /* the reply still goes out */
		conn_puts(s->conn, "* BYE Idle timeout\r\n");
		conn_flush(s->conn);
		log_info("imap.timeout", "peer=%s", conn_peer_ip(s->conn));
	}
	return IMAP_READ_CLOSE;
}

static const char *tag_of(struct imap_session *s)
{
	return imap_parser_command(s->parser)->tag;
}

/* Reads and drops n octets (a refused non-synchronising literal). Returns 0 or -1. */
static int drop(struct imap_session *s, uint64_t n)
{
	struct buf b;
	buf_init(&b, LITERAL_PIECE);
	int rc = 0;
	while (n > 0 && rc == 0) {
		size_t k = n > LITERAL_PIECE ? LITERAL_PIECE : (size_t)n;
		buf_reset(&b);
		rc = conn_read_exact(s->conn, &b, k) == CONN_OK ? 0 : -1;
		n -= k;
	}
	buf_free(&b);
	return rc;
}

int imap_literal_refuse(struct imap_session *s)
{
	uint64_t size = imap_parser_literal_size(s->parser);
	bool nonsync = imap_parser_literal_nonsync(s->parser);
	imap_parser_literal_streamed(s->parser); /* it counts as read either way */
	if (!nonsync)
		return 0; /* never sent: the client waits for "+", the command ends here */
	log_info("imap.literal_refused", "peer=%s size=%llu nonsync=1", conn_peer_ip(s->conn),
	         (unsigned long long)size);
	if (size > (uint64_t)s->cfg->max_message_size || drop(s, size) < 0) {
		conn_puts(s->conn, "* BYE Non-synchronising literal refused\r\n");
		s->close_after_reply = true;
		return -1;
	}
	return 1;
}

void imap_command_drain(struct imap_session *s)
{
	int r = imap_parser_literal_pending(s->parser) ? imap_literal_refuse(s) : 0;
	while (r == 1 && !s->close_after_reply) {
		if (imap_read_more(s) != IMAP_PARSE_LITERAL)
			return;
		r = imap_literal_refuse(s);
	}
}

static void go_ahead(struct imap_session *s)
{
	if (!imap_parser_literal_nonsync(s->parser)) {
		conn_puts(s->conn, "+ OK\r\n");
		conn_flush(s->conn);
	}
}

int imap_literal_read(struct imap_session *s, size_t limit)
{
	uint64_t size = imap_parser_literal_size(s->parser);
	if (size > limit || s->cmd_octets + size > command_limit(s)) {
		bool nonsync = imap_parser_literal_nonsync(s->parser);
		log_info("imap.literal_refused", "peer=%s size=%llu nonsync=%d", conn_peer_ip(s->conn),
		         (unsigned long long)size, nonsync);
		imap_send(s, tag_of(s), nonsync ? IMAP_R_TOOBIG_LITERAL_BAD : IMAP_R_TOOBIG_LITERAL);
		if (!nonsync)
			return -2;
		/* already on its way, and too big to be worth reading (RFC 7888 4) */
		conn_puts(s->conn, "* BYE Non-synchronising literal refused\r\n");
		s->close_after_reply = true;
		return -1;
	}
	go_ahead(s);
	struct buf b;
	buf_init(&b, (size_t)size + 1);
	enum conn_result r = conn_read_exact(s->conn, &b, (size_t)size);
	if (r == CONN_OK) {
		imap_parser_literal_data(s->parser, b.data, b.len);
		s->cmd_octets += (size_t)size;
	}
	buf_free(&b);
	if (r != CONN_OK) {
		read_fail(s, r);
		return -1;
	}
	return 0;
}

int imap_literal_stream(struct imap_session *s, int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	uint64_t left = imap_parser_literal_size(s->parser);
	/* the whole message within imap_append_timeout, however slowly it trickles in */
	conn_set_deadline(s->conn, s->cfg->imap_append_timeout);
	go_ahead(s);
	struct buf b;
	buf_init(&b, LITERAL_PIECE);
	int rc = 0, taking = 1;
	while (left > 0 && rc == 0) {
		size_t k = left > LITERAL_PIECE ? LITERAL_PIECE : (size_t)left;
		buf_reset(&b);
		enum conn_result r = conn_read_exact(s->conn, &b, k);
		if (r != CONN_OK) {
			read_fail(s, r);
			rc = -1;
			break;
		}
		if (taking && fn(arg, b.data, b.len) != 0)
			taking = 0; /* the rest is read and dropped, to stay in step */
		left -= k;
	}
	buf_free(&b);
	conn_set_deadline(s->conn, 0);
	if (rc == 0)
		imap_parser_literal_streamed(s->parser);
	return rc;
}

/* One line into the parser; -1 when it could not be read. */
int imap_read_more(struct imap_session *s)
{
	enum conn_result r = conn_read_line(s->conn, &s->line, s->cfg->imap_max_line, NULL);
	if (r == CONN_TOOLONG) {
		imap_send(s, tag_of(s), IMAP_R_TOOBIG_LINE);
		return -1;
	}
	if (r != CONN_OK) {
		read_fail(s, r);
		s->close_after_reply = true;
		return -1;
	}
	s->cmd_octets += s->line.len;
	return (int)imap_parser_line(s->parser, s->line.data, s->line.len);
}

/* A syntax error: BAD, and a literal announced on that line is refused. */
static enum imap_read parse_error(struct imap_session *s)
{
	imap_send_text(s, tag_of(s), IMAP_R_PARSE, imap_parser_error(s->parser));
	uint64_t size = 0;
	bool nonsync = false;
	if (imap_line_literal(s->line.data, s->line.len, &size, &nonsync) == 1 && nonsync) {
		conn_puts(s->conn, "* BYE Non-synchronising literal refused\r\n");
		return IMAP_READ_CLOSE;
	}
	return IMAP_READ_REPLIED;
}

/* The parser stopped at a literal: stream it (CMD_STREAM commands, once logged in),
 * or read it into the command within the limit. */
static int at_literal(struct imap_session *s, enum imap_read *res)
{
	const struct imap_cmd_def *d = imap_cmd_find(imap_parser_command(s->parser)->name);
	if (d != NULL && (d->flags & CMD_STREAM) && s->state != IMAP_STATE_NOT_AUTH) {
		*res = IMAP_READ_STREAM;
		return 1;
	}
	int rc = imap_literal_read(s, s->cfg->imap_max_line);
	if (rc == 0)
		return 0;
	*res = rc == -1 ? IMAP_READ_CLOSE : (s->close_after_reply ? IMAP_READ_CLOSE : IMAP_READ_REPLIED);
	return 1;
}

static enum imap_read read_command(struct imap_session *s)
{
	imap_parser_reset(s->parser);
	s->cmd_octets = 0;
	for (bool first = true;; first = false) {
		enum conn_result r = conn_read_line(s->conn, &s->line, s->cfg->imap_max_line, NULL);
		if (r == CONN_TOOLONG) {
			imap_send(s, tag_of(s), IMAP_R_TOOBIG_LINE);
			return IMAP_READ_REPLIED;
		}
		if (r != CONN_OK)
			return read_fail(s, r);
		if (first && s->line.len == 0)
			return IMAP_READ_REPLIED; /* empty lines are ignored, as Dovecot does */
		s->cmd_octets += s->line.len;
		if (s->cmd_octets > command_limit(s)) {
			imap_send(s, tag_of(s), IMAP_R_TOOBIG_COMMAND);
			return IMAP_READ_REPLIED;
		}
		enum imap_parse_result pr = imap_parser_line(s->parser, s->line.data, s->line.len);
		if (pr == IMAP_PARSE_DONE)
			return IMAP_READ_COMMAND;
		if (pr == IMAP_PARSE_ERROR)
			return parse_error(s);
		enum imap_read res;
		if (at_literal(s, &res))
			return res;
	}
}

/* Most sessions sit idle for minutes between short bursts of commands: what the last
 * burst cached (SQLite's pages, the last decrypted message, malloc's free pages) goes
 * back to the system once the client has said nothing for imap_idle_release, so that
 * an idle session costs little memory (issue 15) and holds no message in clear. */
void imap_release_memory(struct imap_session *s)
{
	store_release_memory(s->store);
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

/* Up to imap_idle_timeout for the next command, the memory released once on the way.
 * Returns as imap_notify_wait. */
static int wait_idle(struct imap_session *s)
{
	int total = (int)s->cfg->imap_idle_timeout * 1000;
	int release = (int)s->cfg->imap_idle_release * 1000;

	if (release >= total)
		return imap_notify_wait(s, total);
	int w = imap_notify_wait(s, release);
	if (w != 0)
		return w;
	imap_release_memory(s);
	return imap_notify_wait(s, total - release);
}

/* Idle between commands up to imap_idle_timeout; once a command starts it must arrive
 * whole within imap_command_timeout, however slowly its bytes trickle in (issue 12); a
 * streamed APPEND literal has imap_append_timeout of its own (imap_literal_stream). */
enum imap_read imap_read_command(struct imap_session *s)
{
	imap_notify_poll(s); /* NOTIFY: what the last command's time brought (RFC 5465 4) */
	if (!conn_has_buffered_input(s->conn)) {
		int w = wait_idle(s);
		if (w <= 0)
			return read_fail(s, w == 0 ? CONN_TIMEOUT : w == -2 ? CONN_STOP : CONN_ERROR);
	}
	conn_set_deadline(s->conn, s->cfg->imap_command_timeout);
	enum imap_read res = read_command(s);
	conn_set_deadline(s->conn, 0);
	return res;
}

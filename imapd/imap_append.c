/* imap_append.c: APPEND (RFC 9051 6.3.12) with UIDPLUS APPENDUID (RFC 4315).
 *
 *   APPEND mailbox 1*(SP [flag-list] [SP date-time] SP (literal / "UTF8" SP "(" literal8 ")"
 *                                                    / "CATENATE" SP "(" cat-part ... ")"))
 *
 * The UTF8 form is RFC 6855 4 (UTF8=ACCEPT): the message may carry UTF-8 headers;
 * it is stored as given, like any other.
 *
 * The command reads its own literals (CMD_STREAM): the mailbox is checked before the
 * client is asked for the message, so a client told NO [TRYCREATE] never sends it,
 * and the message goes to the store as it arrives. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_binconv.h"
#include "imap/imap_date.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_reader.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

struct append_ctx {
	struct imap_session *s;
	struct imap_command *c;
	char mailbox[STORE_MAILBOX_MAX];
	size_t next; /* index of the next unread argument */
	struct store_appender *ap;
	struct imap_binconv *conv; /* a literal8: binary parts become base64 (RFC 3516 4.4) */
	struct buf converted;
	uint64_t quota_used; /* the account's use (QUOTA), read at the first message */
	bool write_failed;
	char err[256];
};

/* Reads [flag-list] [date-time] at ctx->next. Returns 0, or -1 with BAD written. */
static int message_params(struct append_ctx *x, uint32_t *flags, struct buf *kw, int64_t *date)
{
	struct imap_command *c = x->c;
	if (x->next < c->nargs && c->args[x->next].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(&c->args[x->next], flags, kw) < 0) {
			imap_send(x->s, c->tag, IMAP_R_INVALID_FLAGS);
			return -1;
		}
		x->next++;
	}
	if (x->next < c->nargs && c->args[x->next].type == IMAP_ARG_QUOTED) {
		if (imap_date_time_parse(c->args[x->next].str, date) < 0) {
			imap_send(x->s, c->tag, IMAP_R_INVALID_DATE);
			return -1;
		}
		x->next++;
	}
	return 0;
}

static int write_out(struct append_ctx *x, const char *p, size_t n)
{
	if (store_append_write(x->ap, p, n, x->err, sizeof(x->err)) < 0) {
		x->write_failed = true;
		return 1;
	}
	return 0;
}

static int to_store(void *arg, const char *p, size_t n)
{
	struct append_ctx *x = arg;
	if (x->conv == NULL)
		return write_out(x, p, n);
	buf_reset(&x->converted);
	imap_binconv_feed(x->conv, p, n, &x->converted);
	return write_out(x, x->converted.data, x->converted.len);
}

/* The end of a literal8: what the converter still held. */
static void conversion_end(struct append_ctx *x)
{
	if (x->conv == NULL)
		return;
	buf_reset(&x->converted);
	imap_binconv_finish(x->conv, &x->converted);
	x->conv = NULL;
	if (!x->write_failed)
		(void)write_out(x, x->converted.data, x->converted.len);
	buf_free(&x->converted);
}

static void store_failed(struct append_ctx *x)
{
	log_err("imap.store", "user=%s op=append error=\"%s\"", x->s->account.address, x->err);
	imap_send(x->s, x->c->tag, IMAP_R_SERVERBUG);
}

/* The message literal the parser stopped at: size checked, then streamed into the
 * store. Returns 0, -1 with the reply written (the literal not taken), -2 when the
 * command is over (reply written, or the session ends). */
static int message_literal(struct append_ctx *x, uint32_t flags, const char *keywords, int64_t date)
{
	struct imap_session *s = x->s;
	uint64_t size = imap_parser_literal_size(s->parser);
	if (size == 0) {
		imap_send(s, x->c->tag, IMAP_R_EMPTY_MESSAGE);
		return -1;
	}
	if (size > (uint64_t)s->cfg->max_message_size) {
		/* a non-synchronising one is on its way and too big to read: BAD, then BYE */
		imap_send(s, x->c->tag,
		          imap_parser_literal_nonsync(s->parser) ? IMAP_R_TOOBIG_MESSAGE_BAD
		                                                 : IMAP_R_TOOBIG_MESSAGE);
		return -1;
	}
	int q = imap_quota_check(s, size, &x->quota_used);
	if (q != 0) {
		if (q < 0)
			imap_send(s, x->c->tag, IMAP_R_SERVERBUG);
		else
			imap_send(s, x->c->tag, IMAP_R_OVERQUOTA);
		return -1;
	}
	if (x->quota_used != UINT64_MAX)
		x->quota_used += size; /* MULTIAPPEND: the next message counts this one */
	int rc = store_append_message(x->ap, flags, keywords, date, x->err, sizeof(x->err));
	if (rc != 0) {
		if (rc < 0)
			store_failed(x);
		else
			imap_send(s, x->c->tag, IMAP_R_INVALID_KEYWORD);
		return -1;
	}
	if (imap_parser_literal_binary(s->parser)) {
		x->conv = imap_binconv_new();
		buf_init(&x->converted, BUF_UNLIMITED);
	}
	rc = imap_literal_stream(s, to_store, x);
	conversion_end(x);
	if (rc < 0)
		return -2;
	x->next++;
	if (x->write_failed || store_append_end(x->ap, x->err, sizeof(x->err)) < 0) {
		store_failed(x);
		return -2;
	}
	return 0;
}

/* Whether the parser stopped at the message literal: a top-level one, or the one of
 * "UTF8 (" (RFC 6855 4), whose atom is then skipped. */
static bool at_message_literal(struct append_ctx *x, bool *utf8)
{
	struct imap_parser *p = x->s->parser;
	*utf8 = false;
	if (!imap_parser_literal_pending(p))
		return false;
	if (imap_parser_depth(p) == 0)
		return x->next == x->c->nargs;
	if (imap_parser_depth(p) == 1 && x->next + 1 == x->c->nargs &&
	    imap_arg_is_atom(&x->c->args[x->next], "UTF8")) {
		x->next++;
		*utf8 = true;
		return true;
	}
	return false;
}

/* After "UTF8 (" literal8: the list must hold that literal alone. */
static bool utf8_closed(const struct append_ctx *x)
{
	const struct imap_command *c = imap_parser_command(x->s->parser);
	const struct imap_arg *a = x->next - 1 < c->nargs ? &c->args[x->next - 1] : NULL;
	return a != NULL && a->type == IMAP_ARG_LIST && a->count == 1 && a->list[0].type == IMAP_ARG_LITERAL;
}

/* A CATENATE message (RFC 4469, imap_catenate.c) at x->next. Returns as one_message. */
static int catenate(struct append_ctx *x, uint32_t flags, const char *keywords, int64_t date)
{
	struct imap_session *s = x->s;
	struct imap_catenate_meta meta = {flags, keywords, date};
	int rc = imap_catenate_message(s, x->c->tag, x->next + 1, x->ap, &meta, &x->quota_used);
	if (rc < 0)
		return rc;
	x->next += 2;
	/* the list was read to its end: another message follows on the line or after a
	 * literal, or the command is complete */
	return imap_parser_literal_pending(s->parser) || x->next < imap_parser_command(s->parser)->nargs ? 1
	                                                                                                 : 0;
}

/* One message of the command. Returns 1 when another follows, 0 at the end, -1 after
 * a refusal at a literal (reply written), -2 when the command is over (the session may
 * have to end). */
static int one_message(struct append_ctx *x)
{
	struct imap_session *s = x->s;
	uint32_t flags = 0;
	int64_t date = 0;
	bool utf8 = false;
	struct buf kw;
	buf_init(&kw, STORE_KEYWORDS_MAX);
	int rc = message_params(x, &flags, &kw, &date);
	if (rc == 0 && x->next < x->c->nargs && imap_arg_is_atom(&x->c->args[x->next], "CATENATE")) {
		rc = catenate(x, flags, kw.len ? kw.data : NULL, date);
		buf_free(&kw);
		return rc;
	}
	if (rc == 0 && !at_message_literal(x, &utf8)) {
		imap_send_text(s, x->c->tag, IMAP_R_EXPECTS_APPEND, x->c->name);
		rc = -1;
	}
	if (rc == 0)
		rc = message_literal(x, flags, kw.len ? kw.data : NULL, date);
	buf_free(&kw);
	if (rc < 0)
		return rc;
	int r = imap_read_more(s);
	if ((r == IMAP_PARSE_DONE || r == IMAP_PARSE_LITERAL) && utf8 && !utf8_closed(x)) {
		imap_send(s, x->c->tag, IMAP_R_EXPECTS_LITERAL8);
		return r == IMAP_PARSE_DONE ? -2 : -1;
	}
	if (r == IMAP_PARSE_DONE)
		return 0;
	if (r == IMAP_PARSE_LITERAL)
		return 1;
	if (r == IMAP_PARSE_ERROR)
		imap_send_text(s, x->c->tag, IMAP_R_PARSE, imap_parser_error(s->parser));
	return -2;
}

static void append_commit(struct append_ctx *x)
{
	uint32_t uidvalidity, *uids = NULL;
	size_t n = 0;
	int rc = store_append_commit(x->ap, &uidvalidity, &uids, &n, x->err, sizeof(x->err));
	x->ap = NULL;
	if (rc < 0) {
		store_failed(x);
	} else if (rc == 1) {
		imap_send(x->s, x->c->tag, IMAP_R_TRYCREATE);
	} else if (imap_profile_target(x->s, x->mailbox)) {
		imap_profile_appended(x->s, x->c->tag, uidvalidity, uids, n); /* a profile section */
	} else {
		struct buf set;
		buf_init(&set, BUF_UNLIMITED);
		imap_set_format(&set, uids, n);
		x->s->n_append += (unsigned)n;
		imap_send_code(x->s, x->c->tag, IMAP_R_APPENDUID, NULL, NULL, "%u %s", uidvalidity, set.data);
		buf_free(&set);
	}
	free(uids);
}

/* A literal before the mailbox argument is complete (the mailbox name written as a
 * literal) is read into the command; the message literals are streamed. Returns 0,
 * -1 when the command was answered (or the session ends). */
static int read_name_literals(struct imap_session *s)
{
	while (imap_parser_literal_pending(s->parser) && imap_parser_command(s->parser)->nargs == 0) {
		int rc = imap_literal_read(s, s->cfg->imap_max_line);
		if (rc < 0)
			return -1;
		int r = imap_read_more(s);
		if (r < 0)
			return -1;
		if (r == IMAP_PARSE_ERROR) {
			imap_send_text(s, imap_parser_command(s->parser)->tag, IMAP_R_PARSE,
			               imap_parser_error(s->parser));
			return -1;
		}
	}
	return 0;
}

void cmd_append(struct imap_session *s, struct imap_command *c)
{
	if (read_name_literals(s) < 0)
		return;
	c = imap_parser_command(s->parser);
	struct append_ctx x = {.s = s, .c = c, .next = 1, .quota_used = UINT64_MAX};
	if (c->nargs < 1 || !imap_writable_mailbox_arg(s, c, 0, x.mailbox, sizeof(x.mailbox))) {
		if (c->nargs < 1)
			imap_send_text(s, c->tag, IMAP_R_EXPECTS_APPEND, c->name);
		imap_command_drain(s);
		return;
	}
	/* before the client sends the message: a missing mailbox is refused at once */
	int rc = store_append_begin(s->store, s->account.address, x.mailbox, &x.ap, x.err, sizeof(x.err));
	if (rc != 0) {
		if (rc < 0)
			store_failed(&x);
		else
			imap_send(s, c->tag, IMAP_R_TRYCREATE);
		imap_command_drain(s);
		return;
	}
	while ((rc = one_message(&x)) == 1)
		c = x.c = imap_parser_command(s->parser); /* the arguments grew: read them again */
	if (rc == 0) {
		append_commit(&x);
		return;
	}
	store_append_abort(x.ap);
	if (rc == -1)
		imap_command_drain(s); /* the refusal came at a literal: drop what follows */
}

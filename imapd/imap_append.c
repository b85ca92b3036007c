/* imap_append.c: APPEND (RFC 9051 6.3.12) with UIDPLUS APPENDUID (RFC 4315).
 *
 *   APPEND mailbox 1*(SP [flag-list] [SP date-time] SP literal)
 *
 * The command reads its own literals (CMD_STREAM): the mailbox is checked before the
 * client is asked for the message, so a client told NO [TRYCREATE] never sends it,
 * and the message goes to the store as it arrives. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_reader.h"
#include "lib/log.h"
#include "lib/str.h"

struct append_msg {
	uint32_t flags;
	struct buf keywords;
	int64_t date;
	struct buf data;
};

struct append_ctx {
	struct imap_session *s;
	struct imap_command *c;
	char mailbox[STORE_MAILBOX_MAX];
	size_t next; /* index of the next unread argument */
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t nuids;
	bool too_big;
};

/* Reads [flag-list] [date-time] at ctx->next. Returns 0, or -1 with BAD written. */
static int message_params(struct append_ctx *x, struct append_msg *m)
{
	struct imap_command *c = x->c;
	if (x->next < c->nargs && c->args[x->next].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(&c->args[x->next], &m->flags, &m->keywords) < 0) {
			imap_bad(x->s, c->tag, "Invalid flags");
			return -1;
		}
		x->next++;
	}
	if (x->next < c->nargs && c->args[x->next].type == IMAP_ARG_QUOTED) {
		if (imap_date_time_parse(c->args[x->next].str, &m->date) < 0) {
			imap_bad(x->s, c->tag, "Invalid date-time");
			return -1;
		}
		x->next++;
	}
	return 0;
}

struct sink {
	struct append_ctx *x;
	struct append_msg *m;
};

static int to_message(void *arg, const char *p, size_t n)
{
	struct sink *k = arg;
	if (buf_append(&k->m->data, p, n) < 0) {
		k->x->too_big = true;
		return 1;
	}
	return 0;
}

/* The message literal the parser stopped at: size checked, then read. Returns 0, -1
 * with the reply written, -2 when the session must end. */
static int message_literal(struct append_ctx *x, struct append_msg *m)
{
	struct imap_session *s = x->s;
	uint64_t size = imap_parser_literal_size(s->parser);
	if (size == 0) {
		imap_no(s, x->c->tag, "Cannot append an empty message");
		return -1;
	}
	if (size > (uint64_t)s->cfg->max_message_size) {
		/* a non-synchronising one is on its way and too big to read: BAD, then BYE */
		imap_reply(s, x->c->tag, imap_parser_literal_nonsync(s->parser) ? "BAD" : "NO",
		           "[TOOBIG] Message too large");
		return -1;
	}
	buf_free(&m->data);
	buf_init(&m->data, (size_t)size + 1);
	struct sink k = {x, m};
	if (imap_literal_stream(s, to_message, &k) < 0)
		return -2;
	x->next++;
	return 0;
}

static int store_one(struct append_ctx *x, struct append_msg *m)
{
	struct imap_session *s = x->s;
	char err[256];
	struct store_append ap = {.user = s->account.address,
	                          .mailbox = x->mailbox,
	                          .data = m->data.data,
	                          .len = m->data.len,
	                          .internal_date = m->date,
	                          .flags = m->flags,
	                          .keywords = m->keywords.len ? m->keywords.data : NULL};
	uint32_t uid = 0;
	int rc = store_append(s->store, &ap, &x->uidvalidity, &uid, err, sizeof(err));
	if (rc < 0) {
		log_err("imap.store", "user=%s op=append error=\"%s\"", s->account.address, err);
		imap_no(s, x->c->tag, "[SERVERBUG] Internal error, try again later");
		return -1;
	}
	if (rc == 1) {
		imap_no(s, x->c->tag, "[TRYCREATE] %s", err);
		return -1;
	}
	x->uids = xrealloc(x->uids, (x->nuids + 1) * sizeof(*x->uids));
	x->uids[x->nuids++] = uid;
	s->n_append++;
	return 0;
}

static void append_msg_init(struct append_msg *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->keywords, STORE_KEYWORDS_MAX);
	buf_init(&m->data, 1);
}

static void append_msg_free(struct append_msg *m)
{
	buf_free(&m->keywords);
	buf_free(&m->data);
}

/* One message of the command. Returns 1 when another follows, 0 at the end, -1 after
 * a refusal at a literal (reply written), -2 when the command is over (the session may
 * have to end). */
static int one_message(struct append_ctx *x)
{
	struct imap_session *s = x->s;
	struct append_msg m;
	append_msg_init(&m);
	int rc = message_params(x, &m);
	if (rc == 0 && !(imap_parser_literal_pending(s->parser) && imap_parser_depth(s->parser) == 0 &&
	                 x->next == x->c->nargs)) {
		imap_bad(s, x->c->tag, "APPEND expects mailbox [flags] [date] literal");
		rc = -1;
	}
	if (rc == 0)
		rc = message_literal(x, &m);
	if (rc == 0)
		rc = store_one(x, &m);
	append_msg_free(&m);
	if (rc < 0)
		return rc;
	int r = imap_read_more(s);
	if (r == IMAP_PARSE_DONE)
		return 0;
	if (r == IMAP_PARSE_LITERAL)
		return 1;
	if (r == IMAP_PARSE_ERROR)
		imap_bad(s, x->c->tag, "Error in IMAP command: %s", imap_parser_error(s->parser));
	return -2;
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
			imap_bad(s, imap_parser_command(s->parser)->tag, "Error in IMAP command: %s",
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
	struct append_ctx x = {.s = s, .c = c, .next = 1};
	if (c->nargs < 1 || !imap_writable_mailbox_arg(s, c, 0, x.mailbox, sizeof(x.mailbox))) {
		if (c->nargs < 1)
			imap_bad(s, c->tag, "APPEND expects mailbox [flags] [date] literal");
		imap_command_drain(s);
		return;
	}
	int rc;
	while ((rc = one_message(&x)) == 1)
		c = x.c = imap_parser_command(s->parser); /* the arguments grew: read them again */
	if (rc == -1)
		imap_command_drain(s); /* the refusal came at a literal: drop what follows */
	if (rc == 0) {
		struct buf set;
		buf_init(&set, BUF_UNLIMITED);
		imap_set_format(&set, x.uids, x.nuids);
		imap_ok(s, c->tag, "[APPENDUID %u %s] Append completed", x.uidvalidity, set.data);
		buf_free(&set);
	}
	free(x.uids);
}

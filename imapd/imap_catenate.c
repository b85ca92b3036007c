/* imap_catenate.c: APPEND's CATENATE form (RFC 4469): a message made of TEXT literals
 * and URL parts that name (a section of) a message the user can already read.
 *
 *   append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"
 *   cat-part = "TEXT" SP literal / "URL" SP astring
 *
 * The list is read whole into the command (its TEXT literals are bounded by the
 * reader, imap_literal_read); every URL is resolved before anything is stored, so a
 * bad one answers NO [BADURL "url"] and nothing of the message is kept; then the parts
 * are streamed into the store in order: a URL part from the source blob, never the
 * whole source message in memory. URLs name the user's own mailboxes (relative, or
 * imap:// on this server for this user); a patient's shared vault is not reachable
 * this way. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_section.h"
#include "imap/imap_url.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_reader.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define CAT_PARTS_MAX 64

struct cat_piece {
	const char *text; /* TEXT: its octets; NULL for a URL part */
	struct store_body *body;
	uint64_t off, len;
};

struct cat_ctx {
	struct imap_session *s;
	const char *tag;
	struct cat_piece v[CAT_PARTS_MAX];
	size_t n;
	uint64_t total;
};

/* Reads the rest of the CATENATE list at index list_i into the command. Returns 0,
 * -1 after a refusal (reply written, the command to drain), -2 when the command is
 * over. */
static int read_list(struct imap_session *s, size_t list_i, const char *tag)
{
	while (imap_parser_command(s->parser)->nargs <= list_i) {
		if (!imap_parser_literal_pending(s->parser)) {
			imap_send(s, tag, IMAP_R_EXPECTS_CATENATE);
			return -2;
		}
		int rc = imap_literal_read(s, s->cfg->imap_max_line);
		if (rc < 0)
			return rc == -1 ? -2 : -1;
		int r = imap_read_more(s);
		if (r < 0)
			return -2;
		if (r == IMAP_PARSE_ERROR) {
			imap_send_text(s, tag, IMAP_R_PARSE, imap_parser_error(s->parser));
			return -2;
		}
	}
	return 0;
}

static void bad_url(struct cat_ctx *x, const char *url)
{
	struct buf b;
	int rc = 0;
	buf_init(&b, BUF_UNLIMITED);
	for (const char *p = url; *p; p++) /* the URL back as a quoted string */
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && *p != 0x7f)
			rc |= buf_append_char(&b, *p);
	str_assert(rc, "b is BUF_UNLIMITED");
	imap_send_code(x->s, x->tag, IMAP_R_BADURL, NULL, NULL, "\"%s\"", b.data);
	buf_free(&b);
}

/* The user part of an absolute URL's server must be this account (RFC 5092 3.2). */
static bool server_ours(const struct imap_session *s, const char *server)
{
	const char *at = strrchr(server, '@');
	if (at == NULL)
		return true;
	size_t n = strcspn(server, ";@");
	return n == strlen(s->account.address) && str_ieqn(server, s->account.address, n);
}

/* The section's range in the opened message, partial applied. Returns 0 or -1. */
static int url_range(const struct imap_url *u, struct store_body *b, uint64_t *off, uint64_t *len)
{
	*off = 0;
	*len = store_body_size(b);
	if (u->section[0] != '\0') {
		struct imap_section sec;
		int rc = imap_section_parse(u->section, strlen(u->section), false, &sec);
		bool fields =
		    sec.kind == IMAP_SECTION_HEADER_FIELDS || sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT;
		if (rc == 0 && !fields &&
		    imap_section_range(store_body_parts(b), store_body_size(b), &sec, off, len) == 0)
			*off = *len = 0; /* no such part: empty, as FETCH answers it */
		imap_section_free(&sec);
		if (rc < 0 || fields)
			return -1;
	}
	if (u->partial) {
		uint64_t skip = u->partial_off < *len ? u->partial_off : *len;
		*off += skip;
		*len -= skip;
		if (u->partial_len != 0 && u->partial_len < *len)
			*len = u->partial_len;
	}
	return 0;
}

/* Opens the message a URL names. Returns 0 with the piece filled, -1 (BADURL written
 * or an internal error answered). */
static int resolve_url(struct cat_ctx *x, const char *url, struct cat_piece *pc)
{
	struct imap_session *s = x->s;
	struct imap_url u;
	char name[STORE_MAILBOX_MAX], err[256];
	struct imap_arg box = {.type = IMAP_ARG_QUOTED};
	struct store_mailbox mb;
	int rc = imap_url_parse(url, strlen(url), &u) == 0 && server_ours(s, u.server) ? 0 : -1;
	box.str = u.mailbox;
	box.len = strlen(u.mailbox);
	if (rc == 0 && (imap_mailbox_arg(s, &box, name, sizeof(name)) != 0 || imap_vault_name(name)))
		rc = -1;
	if (rc == 0)
		rc = store_mailbox_get(s->store, s->account.address, name, &mb, err, sizeof(err)) == 1 ? 0
		                                                                                       : -1;
	if (rc == 0 && u.uidvalidity != 0 && u.uidvalidity != mb.uidvalidity)
		rc = -1;
	if (rc == 0) {
		rc = store_body_open(s->store, mb.id, u.uid, &pc->body, err, sizeof(err));
		if (rc < 0) {
			log_err("imap.store", "user=%s op=catenate error=\"%s\"", s->account.address, err);
			imap_send(s, x->tag, IMAP_R_SERVERBUG);
			return -1;
		}
		rc = rc == 1 ? url_range(&u, pc->body, &pc->off, &pc->len) : -1;
	}
	if (rc < 0)
		bad_url(x, url);
	return rc;
}

/* Every part of the list, URLs opened. Returns 0, or -1 with the reply written. */
static int resolve_parts(struct cat_ctx *x, const struct imap_arg *list)
{
	if (list->type != IMAP_ARG_LIST || list->count == 0 || list->count % 2 != 0 ||
	    list->count / 2 > CAT_PARTS_MAX) {
		imap_send(x->s, x->tag, IMAP_R_EXPECTS_CATENATE);
		return -1;
	}
	for (size_t i = 0; i < list->count; i += 2) {
		const struct imap_arg *k = &list->list[i], *v = &list->list[i + 1];
		struct cat_piece *pc = &x->v[x->n];
		if (imap_arg_is_atom(k, "TEXT") && v->type == IMAP_ARG_LITERAL && v->str != NULL) {
			pc->text = v->str;
			pc->len = v->len;
		} else if (imap_arg_is_atom(k, "URL") && imap_arg_astring(v) != NULL) {
			if (resolve_url(x, imap_arg_astring(v), pc) < 0)
				return -1;
		} else {
			imap_send(x->s, x->tag, IMAP_R_EXPECTS_CATENATE);
			return -1;
		}
		x->n++;
		x->total += pc->len;
	}
	return 0;
}

/* The message's size against max_message_size and the account's quota. Returns 0, or
 * -1 with the reply written. */
static int size_allowed(struct cat_ctx *x, uint64_t *quota_used)
{
	struct imap_session *s = x->s;
	if (x->total == 0) {
		imap_send(s, x->tag, IMAP_R_EMPTY_MESSAGE);
		return -1;
	}
	if (x->total > s->cfg->max_message_size) {
		imap_send(s, x->tag, IMAP_R_TOOBIG_MESSAGE);
		return -1;
	}
	int q = imap_quota_check(s, x->total, quota_used);
	if (q != 0) {
		imap_send(s, x->tag, q < 0 ? IMAP_R_SERVERBUG : IMAP_R_OVERQUOTA);
		return -1;
	}
	if (*quota_used != UINT64_MAX)
		*quota_used += x->total;
	return 0;
}

struct cat_sink {
	struct store_appender *ap;
	char *err;
	size_t errlen;
	bool failed;
};

static int to_appender(void *arg, const char *p, size_t n)
{
	struct cat_sink *k = arg;
	if (store_append_write(k->ap, p, n, k->err, k->errlen) < 0) {
		k->failed = true;
		return 1;
	}
	return 0;
}

/* The parts, in order, into the message being appended. Returns 0 or -1 with err. */
static int write_parts(struct cat_ctx *x, struct store_appender *ap, char *err, size_t errlen)
{
	struct cat_sink k = {ap, err, errlen, false};
	for (size_t i = 0; i < x->n && !k.failed; i++) {
		const struct cat_piece *pc = &x->v[i];
		if (pc->text != NULL)
			to_appender(&k, pc->text, pc->len);
		else if (pc->len > 0 &&
		         store_body_read(pc->body, pc->off, pc->len, to_appender, &k, err, errlen) < 0)
			return -1;
	}
	return k.failed ? -1 : 0;
}

int imap_catenate_message(struct imap_session *s, const char *tag, size_t list_i, struct store_appender *ap,
                          const struct imap_catenate_meta *meta, uint64_t *quota_used)
{
	int rc = read_list(s, list_i, tag);
	if (rc < 0)
		return rc;
	struct cat_ctx *x = xcalloc(1, sizeof(*x));
	x->s = s;
	x->tag = tag;
	rc = resolve_parts(x, &imap_parser_command(s->parser)->args[list_i]);
	if (rc == 0)
		rc = size_allowed(x, quota_used);
	char err[256];
	if (rc == 0) {
		int w = store_append_message(ap, meta->flags, meta->keywords, meta->date, err, sizeof(err));
		if (w == 0)
			w = write_parts(x, ap, err, sizeof(err));
		if (w == 0)
			w = store_append_end(ap, err, sizeof(err));
		if (w > 0) {
			imap_send(s, tag, IMAP_R_INVALID_KEYWORD);
			rc = -1;
		} else if (w < 0) {
			log_err("imap.store", "user=%s op=catenate error=\"%s\"", s->account.address, err);
			imap_send(s, tag, IMAP_R_SERVERBUG);
			rc = -1;
		}
	}
	for (size_t i = 0; i < x->n; i++)
		store_body_close(x->v[i].body);
	free(x);
	return rc;
}

/* imap_fetch.c: FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 7162 CHANGEDSINCE).
 *
 * ENVELOPE and BODYSTRUCTURE come ready-made from the store's cache (built once with
 * libetpan at delivery); section octets are cut by the store, which decrypts the
 * message once for several sections. */
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_binary.h"
#include "imapd/imap_cmd.h"
#include "imap/imap_date.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

enum fetch_kind {
	F_FLAGS,
	F_UID,
	F_INTERNALDATE,
	F_SIZE,
	F_ENVELOPE,
	F_BODYSTRUCTURE,
	F_BODY,    /* non-extensible structure */
	F_SECTION, /* BODY[...] / BODY.PEEK[...] / RFC822 / RFC822.HEADER / RFC822.TEXT */
	F_MODSEQ,
	F_BINARY,      /* BINARY[part]<partial> / BINARY.PEEK (RFC 3516, RFC 9051) */
	F_BINARY_SIZE, /* BINARY.SIZE[part] */
};

struct fetch_item {
	enum fetch_kind kind;
	bool peek;
	char label[IMAP_NAME_MAX + 256]; /* how the item is named in the response */
	struct store_section sec;
	char *storage; /* owned by sec (store_section_parse) */
	bool partial;
};

struct fetch_req {
	struct fetch_item items[64];
	size_t n;
	unsigned want;  /* STORE_WANT_* */
	bool need_meta; /* INTERNALDATE, RFC822.SIZE or structures */
	bool sets_seen;
	bool has_section;      /* message content is read (counted for the audit) */
	bool content;          /* a body's content, not only headers: a consultation of a document */
	uint64_t changedsince; /* CHANGEDSINCE modifier, 0 = none */
};

static struct fetch_item *add_item(struct fetch_req *r, enum fetch_kind k)
{
	if (r->n >= sizeof(r->items) / sizeof(r->items[0]))
		return NULL;
	struct fetch_item *it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	return it;
}

/* "<offset.length>" after a section. Returns 0 or -1. */
static int parse_partial(const char *p, struct store_section *sec)
{
	uint64_t off, len;
	char a[24], b[24];
	const char *dot = strchr(p, '.'), *end = strchr(p, '>');
	if (p[0] != '<' || dot == NULL || end == NULL || end[1] != '\0' || dot > end)
		return -1;
	if ((size_t)(dot - p - 1) >= sizeof(a) || (size_t)(end - dot - 1) >= sizeof(b))
		return -1;
	memcpy(a, p + 1, (size_t)(dot - p - 1));
	a[dot - p - 1] = '\0';
	memcpy(b, dot + 1, (size_t)(end - dot - 1));
	b[end - dot - 1] = '\0';
	if (str_to_u64(a, UINT32_MAX, &off) < 0 || str_to_u64(b, UINT32_MAX, &len) < 0 || len == 0)
		return -1;
	sec->offset = off;
	sec->length = len;
	return 0;
}

/* BODY[...]<...> / BODY.PEEK[...]<...>. */
static int parse_section_item(struct fetch_req *r, const char *s)
{
	bool peek = str_iprefix(s, "BODY.PEEK[");
	const char *open = strchr(s, '['), *close = strchr(s, ']');
	if (open == NULL || close == NULL || close < open)
		return -1;
	struct fetch_item *it = add_item(r, F_SECTION);
	if (it == NULL)
		return -1;
	char spec[256];
	if ((size_t)(close - open - 1) >= sizeof(spec))
		return -1;
	memcpy(spec, open + 1, (size_t)(close - open - 1));
	spec[close - open - 1] = '\0';
	if (store_section_parse(spec, &it->sec, &it->storage) < 0) {
		r->n--;
		return -1;
	}
	it->sec.offset = 0;
	it->sec.length = UINT64_MAX;
	if (close[1] != '\0') {
		if (parse_partial(close + 1, &it->sec) < 0)
			return -1;
		it->partial = true;
	}
	it->peek = peek;
	str_format(it->label, sizeof(it->label), "BODY[%s]", spec);
	if (!peek)
		r->sets_seen = true;
	r->has_section = true;
	r->content |= it->sec.kind == STORE_SECTION_ALL || it->sec.kind == STORE_SECTION_TEXT;
	return 0;
}

/* BINARY[part]<partial>, BINARY.PEEK[part]<partial>, BINARY.SIZE[part]: the section is a
 * part number only (RFC 9051 6.4.5). */
static int parse_binary_item(struct fetch_req *r, const char *s)
{
	bool size = str_iprefix(s, "BINARY.SIZE[");
	bool peek = str_iprefix(s, "BINARY.PEEK[");
	const char *open = strchr(s, '['), *close = strchr(s, ']');
	char spec[64];
	if (open == NULL || close == NULL || close < open || (size_t)(close - open - 1) >= sizeof(spec))
		return -1;
	memcpy(spec, open + 1, (size_t)(close - open - 1));
	spec[close - open - 1] = '\0';
	for (const char *p = spec; *p; p++)
		if (!(*p >= '0' && *p <= '9') && *p != '.')
			return -1;
	struct fetch_item *it = add_item(r, size ? F_BINARY_SIZE : F_BINARY);
	if (it == NULL)
		return -1;
	if (store_section_parse(spec, &it->sec, &it->storage) < 0 || it->sec.kind != STORE_SECTION_ALL)
		return -1;
	it->sec.offset = 0;
	it->sec.length = UINT64_MAX;
	if (close[1] != '\0') {
		if (size || parse_partial(close + 1, &it->sec) < 0)
			return -1;
		it->partial = true;
	}
	it->peek = peek || size;
	str_format(it->label, sizeof(it->label), "%s[%s]", size ? "BINARY.SIZE" : "BINARY", spec);
	if (!it->peek)
		r->sets_seen = true;
	r->has_section = true;
	r->content |= !size;
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: old names of BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static int parse_rfc822(struct fetch_req *r, const char *s)
{
	const char *spec = str_ieq(s, "RFC822") ? "" : str_ieq(s, "RFC822.HEADER") ? "HEADER" : "TEXT";
	struct fetch_item *it = add_item(r, F_SECTION);
	if (it == NULL || store_section_parse(spec, &it->sec, &it->storage) < 0)
		return -1;
	it->sec.offset = 0;
	it->sec.length = UINT64_MAX;
	it->peek = str_ieq(s, "RFC822.HEADER");
	if (!it->peek)
		r->sets_seen = true;
	r->has_section = true;
	r->content |= !str_ieq(s, "RFC822.HEADER");
	str_copy(it->label, sizeof(it->label),
	         str_ieq(s, "RFC822")          ? "RFC822"
	         : str_ieq(s, "RFC822.HEADER") ? "RFC822.HEADER"
	                                       : "RFC822.TEXT");
	return 0;
}

static int parse_simple(struct fetch_req *r, const char *s)
{
	static const struct {
		const char *name;
		enum fetch_kind kind;
		unsigned want;
	} t[] = {
	    {"FLAGS", F_FLAGS, 0},
	    {"UID", F_UID, 0},
	    {"INTERNALDATE", F_INTERNALDATE, 0},
	    {"RFC822.SIZE", F_SIZE, 0},
	    {"ENVELOPE", F_ENVELOPE, STORE_WANT_ENVELOPE},
	    {"BODYSTRUCTURE", F_BODYSTRUCTURE, STORE_WANT_BODYSTRUCTURE},
	    {"BODY", F_BODY, STORE_WANT_BODY},
	    {"MODSEQ", F_MODSEQ, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!str_ieq(s, t[i].name))
			continue;
		if (add_item(r, t[i].kind) == NULL)
			return -1;
		r->want |= t[i].want;
		if (t[i].kind != F_FLAGS && t[i].kind != F_UID && t[i].kind != F_MODSEQ)
			r->need_meta = true;
		return 0;
	}
	return -1;
}

static int parse_item(struct fetch_req *r, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM)
		return -1;
	const char *s = a->str;
	if (str_iprefix(s, "BODY[") || str_iprefix(s, "BODY.PEEK["))
		return parse_section_item(r, s);
	if (str_iprefix(s, "BINARY[") || str_iprefix(s, "BINARY.PEEK[") || str_iprefix(s, "BINARY.SIZE["))
		return parse_binary_item(r, s);
	if (str_ieq(s, "RFC822") || str_ieq(s, "RFC822.HEADER") || str_ieq(s, "RFC822.TEXT"))
		return parse_rfc822(r, s);
	return parse_simple(r, s);
}

/* The macros ALL, FAST, FULL (RFC 9051 6.4.5). */
static int parse_macro(struct fetch_req *r, const char *s)
{
	const char *items;
	if (str_ieq(s, "ALL"))
		items = "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE";
	else if (str_ieq(s, "FAST"))
		items = "FLAGS INTERNALDATE RFC822.SIZE";
	else if (str_ieq(s, "FULL"))
		items = "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY";
	else
		return 1;
	char copy[64];
	str_copy(copy, sizeof(copy), items);
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (parse_simple(r, w) < 0)
			return -1;
	return 0;
}

/* FETCH modifiers: (CHANGEDSINCE n). */
static int parse_modifiers(struct imap_session *s, struct fetch_req *r, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_LIST || a->count != 2 || !imap_arg_is_atom(&a->list[0], "CHANGEDSINCE") ||
	    a->list[1].type != IMAP_ARG_ATOM || str_to_u64(a->list[1].str, INT64_MAX, &r->changedsince) < 0)
		return -1;
	imap_condstore_enable(s);
	if (add_item(r, F_MODSEQ) == NULL)
		return -1;
	return 0;
}

static int parse_request(struct imap_session *s, struct imap_command *c, struct fetch_req *r)
{
	if (c->nargs < 2 || c->nargs > 3 || c->args[0].type != IMAP_ARG_ATOM)
		return -1;
	const struct imap_arg *a = &c->args[1];
	if (a->type == IMAP_ARG_ATOM) {
		int m = parse_macro(r, a->str);
		if (m < 0 || (m == 1 && parse_item(r, a) < 0))
			return -1;
	} else if (a->type == IMAP_ARG_LIST && a->count > 0) {
		for (size_t i = 0; i < a->count; i++)
			if (parse_item(r, &a->list[i]) < 0)
				return -1;
	} else {
		return -1;
	}
	if (c->nargs == 3 && parse_modifiers(s, r, &c->args[2]) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].kind == F_MODSEQ)
			imap_condstore_enable(s);
	if (strcmp(c->name, "UID FETCH") == 0) {
		bool has_uid = false;
		for (size_t i = 0; i < r->n; i++)
			has_uid |= r->items[i].kind == F_UID;
		if (!has_uid && add_item(r, F_UID) == NULL)
			return -1;
	}
	return 0;
}

static void free_request(struct fetch_req *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].storage);
}

/* Non-PEEK body sections set \Seen (RFC 9051 6.4.5) before the data is sent, so the
 * FLAGS in the response are the new ones. */
static void mark_seen(struct imap_session *s, const size_t *idx, size_t n, bool *newly)
{
	uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(s->view.v[idx[i]].flags & STORE_FLAG_SEEN)) {
			uids[k++] = s->view.v[idx[i]].uid;
			newly[i] = true;
		}
	if (k > 0) {
		struct store_flags_req req = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN};
		struct store_flags_result res;
		memset(&res, 0, sizeof(res));
		char err[256];
		if (store_set_flags(s->store, s->view.id, uids, k, &req, &res, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < res.updated.n; i++) {
				const struct store_msg *m = &res.updated.v[i];
				size_t vi = imap_view_find(s, m->uid);
				if (vi != (size_t)-1)
					imap_view_set_flags(s, vi, m->flags, m->keywords, m->modseq);
			}
		} else {
			log_err("imap.store", "user=%s op=seen error=\"%s\"", s->account.address, err);
			memset(newly, 0, n * sizeof(*newly));
		}
		store_flags_result_free(&res);
	}
	free(uids);
}

static void write_flags(struct imap_session *s, const struct imap_msg *m)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	imap_flags_format(&b, m->flags, m->keywords, m->recent && !s->enabled_rev2);
	conn_printf(s->conn, "FLAGS (%s)", b.data);
	buf_free(&b);
}

/* BINARY[...] / BINARY.SIZE[...]: the part decoded from its transfer encoding; a
 * literal8 when the octets hold a NUL (RFC 3516 4.2). */
static int write_binary(struct imap_session *s, const struct fetch_item *it, const struct imap_msg *m,
                        struct buf *data)
{
	buf_reset(data);
	int rc = imap_binary_section(s, m->uid, &it->sec, data);
	if (rc != 0)
		return rc;
	if (it->kind == F_BINARY_SIZE) {
		conn_printf(s->conn, "%s %zu", it->label, data->len);
		return 0;
	}
	size_t off = it->sec.offset < data->len ? (size_t)it->sec.offset : data->len;
	size_t len = data->len - off;
	if (it->partial && it->sec.length < len)
		len = (size_t)it->sec.length;
	if (it->partial)
		conn_printf(s->conn, "%s<%zu> ", it->label, off);
	else
		conn_printf(s->conn, "%s ", it->label);
	bool nul = memchr(data->data + off, '\0', len) != NULL;
	conn_printf(s->conn, "%s{%zu}\r\n", nul ? "~" : "", len);
	conn_write(s->conn, data->data + off, len);
	return 0;
}

/* Writes one item; returns 1 when the message turned out to be gone, -1 on a store error. */
static int write_item(struct imap_session *s, const struct fetch_item *it, const struct imap_msg *m,
                      const struct store_message *sm, struct buf *data)
{
	char date[40];
	switch (it->kind) {
	case F_FLAGS:
		write_flags(s, m);
		return 0;
	case F_UID:
		conn_printf(s->conn, "UID %u", m->uid);
		return 0;
	case F_MODSEQ:
		conn_printf(s->conn, "MODSEQ (%llu)", (unsigned long long)m->modseq);
		return 0;
	case F_INTERNALDATE:
		imap_date_time_format(sm->msg.internaldate, date, sizeof(date));
		conn_printf(s->conn, "INTERNALDATE \"%s\"", date);
		return 0;
	case F_SIZE:
		conn_printf(s->conn, "RFC822.SIZE %llu", (unsigned long long)sm->msg.size);
		return 0;
	case F_ENVELOPE:
		conn_printf(s->conn, "ENVELOPE %s", sm->envelope ? sm->envelope : "NIL");
		return 0;
	case F_BODYSTRUCTURE:
		conn_printf(s->conn, "BODYSTRUCTURE %s", sm->bodystructure ? sm->bodystructure : "NIL");
		return 0;
	case F_BODY:
		conn_printf(s->conn, "BODY %s", sm->body ? sm->body : "NIL");
		return 0;
	case F_BINARY:
	case F_BINARY_SIZE:
		return write_binary(s, it, m, data);
	case F_SECTION:
		break;
	}
	char err[256];
	buf_reset(data);
	int rc = store_fetch_section(s->store, s->view.id, m->uid, &it->sec, data, err, sizeof(err));
	if (rc < 0) {
		log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", s->account.address, m->uid, err);
		return -1;
	}
	if (rc == 1)
		return 1;
	if (it->partial)
		conn_printf(s->conn, "%s<%llu> ", it->label, (unsigned long long)it->sec.offset);
	else
		conn_printf(s->conn, "%s ", it->label);
	conn_printf(s->conn, "{%zu}\r\n", data->len);
	conn_write(s->conn, data->data, data->len);
	return 0;
}

/* One "* n FETCH (...)" response; seen_now: \Seen was just set by this FETCH, so FLAGS
 * is sent even when not asked for (RFC 9051 6.4.5, as Dovecot does). Returns 0, 1 when
 * the message is gone, -1 error, -2 unknown transfer encoding. */
static int fetch_one(struct imap_session *s, const struct fetch_req *r, size_t i, bool seen_now,
                     struct buf *data)
{
	const struct imap_msg *m = &s->view.v[i];
	struct store_message sm;
	memset(&sm, 0, sizeof(sm));
	if (r->need_meta) {
		char err[256];
		int rc = store_message_get(s->store, s->view.id, m->uid, r->want, &sm, err, sizeof(err));
		if (rc != 1) {
			if (rc < 0)
				log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", s->account.address,
				        m->uid, err);
			return rc < 0 ? -1 : 1;
		}
	}
	conn_printf(s->conn, "* %zu FETCH (", i + 1);
	int rc = 0;
	for (size_t k = 0; k < r->n && rc == 0; k++) {
		if (k > 0)
			conn_puts(s->conn, " ");
		rc = write_item(s, &r->items[k], m, &sm, data);
	}
	bool has_flags = false;
	for (size_t k = 0; k < r->n; k++)
		has_flags |= r->items[k].kind == F_FLAGS;
	if (seen_now && !has_flags && rc == 0) {
		conn_puts(s->conn, " ");
		write_flags(s, m);
	}
	conn_puts(s->conn, ")\r\n");
	store_message_free(&sm);
	return rc;
}

void cmd_fetch(struct imap_session *s, struct imap_command *c)
{
	bool uid = strcmp(c->name, "UID FETCH") == 0;
	struct fetch_req r;
	memset(&r, 0, sizeof(r));
	size_t *idx = NULL, n = 0;
	const char *err;
	if (parse_request(s, c, &r) < 0) {
		imap_bad(s, c->tag, "Invalid FETCH arguments");
		goto out;
	}
	if (imap_view_resolve(s, c->args[0].str, uid, &idx, &n, &err) < 0) {
		imap_bad(s, c->tag, "%s", err);
		goto out;
	}
	bool *newly = xcalloc(n ? n : 1, sizeof(*newly));
	if (r.sets_seen && !s->view.readonly)
		mark_seen(s, idx, n, newly);
	struct buf data;
	buf_init(&data, BUF_UNLIMITED);
	size_t gone = 0, failed = 0, bodies = 0, unknown_cte = 0;
	for (size_t k = 0; k < n; k++) {
		if (r.changedsince && s->view.v[idx[k]].modseq <= r.changedsince)
			continue;
		if (!imap_vault_visible(s, s->view.v[idx[k]].uid)) { /* masked or withdrawn since */
			gone++;
			continue;
		}
		int rc = fetch_one(s, &r, idx[k], newly[k], &data);
		if (rc == 0 && s->view.shared && r.content)
			imap_vault_read(s, s->view.v[idx[k]].uid); /* a document consulted: listed */
		gone += rc == 1;
		failed += rc == -1;
		unknown_cte += rc == -2;
		bodies += rc == 0 && r.has_section;
		if (data.cap > 4 * 1024 * 1024) { /* do not keep a large message's buffer */
			buf_free(&data);
			buf_init(&data, BUF_UNLIMITED);
		}
	}
	buf_free(&data);
	free(newly);
	s->n_fetch += (unsigned)bodies;
	if (unknown_cte)
		imap_no(s, c->tag, "[UNKNOWN-CTE] Unknown content transfer encoding");
	else if (failed)
		imap_no(s, c->tag, "[SERVERBUG] Some messages could not be read");
	else if (gone)
		imap_no(s, c->tag, "[EXPUNGEISSUED] Some messages were expunged");
	else
		imap_ok(s, c->tag, "%s completed", c->name);
out:
	free(idx);
	free_request(&r);
}

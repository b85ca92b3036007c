/* imap_fetch.c: FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
 * CHANGEDSINCE).
 *
 * The items are parsed by imap/imap_fetch_items.c. ENVELOPE and BODYSTRUCTURE come
 * ready-made from the store's row (built once at delivery). A body section costs one
 * indexed lookup (store_body_open: the blob and the part tree) and one streamed
 * decryption that sends only the section's octets, straight into the reply: the
 * message is never held whole. BINARY decodes the part on the way out; its size is
 * known from the part tree, so the literal's length is written first. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imap/imap_decode.h"
#include "imap/imap_envelope.h"
#include "imap/imap_fetch_items.h"
#include "imap/imap_mime.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_notify.h"
#include "imapd/imap_qresync.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

/* How one message's answer ended. */
enum fetch_rc {
	FETCH_OK = 0,
	FETCH_GONE = 1,        /* expunged meanwhile */
	FETCH_FAILED = -1,     /* a store error before anything of the message was sent */
	FETCH_BROKEN = -2,     /* a literal was started and could not be finished: the session ends */
	FETCH_UNKNOWN_CTE = -3 /* BINARY of an encoding that cannot be undone */
};

struct fetch_msg {
	struct imap_session *s;
	const struct imap_msg *m;
	size_t seq;
	struct store_message meta;
	struct store_body *body; /* opened on the first section */
};

/* ---- flags ---- */

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
	imap_flags_write(s, m->flags, m->keywords, m->recent && !s->enabled_rev2);
}

/* ---- octets into the reply ---- */

/* A normal literal cannot carry NUL (RFC 3501 9, CHAR8): it goes as 0x80, as Dovecot
 * sends it; the length does not change. */
static int to_conn(void *arg, const char *p, size_t n)
{
	struct imap_session *s = arg;
	while (n > 0) {
		const char *nul = memchr(p, '\0', n);
		size_t k = nul != NULL ? (size_t)(nul - p) : n;
		if (conn_write(s->conn, p, k) < 0)
			return 1;
		if (nul != NULL && conn_write(s->conn, "\x80", 1) < 0)
			return 1;
		p += k + (nul != NULL);
		n -= k + (nul != NULL);
	}
	return 0;
}

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? 1 : 0;
}

static int open_body(struct fetch_msg *f)
{
	if (f->body != NULL)
		return FETCH_OK;
	char err[256];
	int rc = store_body_open(f->s->store, f->s->view.id, f->m->uid, &f->body, err, sizeof(err));
	if (rc < 0)
		log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", f->s->account.address, f->m->uid, err);
	if (rc == 1) { /* read now, for the catching up at the end of this command */
		struct imap_view *v = &f->s->view;
		store_body_mailbox_stamp(f->body, &v->stamp_highestmodseq, &v->stamp_uidnext);
		v->stamp = true;
	}
	return rc == 1 ? FETCH_OK : rc == 0 ? FETCH_GONE : FETCH_FAILED;
}

/* The partial window <off.len> of an answer of n octets. */
static void window(const struct imap_section *sec, uint64_t n, uint64_t *off, uint64_t *len)
{
	*off = 0;
	*len = n;
	if (!sec->partial)
		return;
	*off = sec->offset < n ? sec->offset : n;
	*len = n - *off < sec->length ? n - *off : sec->length;
}

static void label(struct imap_session *s, const struct imap_fetch_item *it, uint64_t off)
{
	if (it->sec.partial)
		conn_printf(s->conn, "%s<%llu> ", it->label, (unsigned long long)off);
	else
		conn_printf(s->conn, "%s ", it->label);
}

static int stream_failed(struct fetch_msg *f, const char *err)
{
	log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", f->s->account.address, f->m->uid, err);
	return FETCH_BROKEN;
}

/* HEADER.FIELDS (.NOT): the header block read, filtered, cut to the window. */
static int write_header_fields(struct fetch_msg *f, const struct imap_fetch_item *it, uint64_t off,
                               uint64_t n)
{
	struct buf h, out;
	char err[256];
	buf_init(&h, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	int rc = FETCH_OK;
	if (n > 0 && store_body_read(f->body, off, n, to_buf, &h, err, sizeof(err)) < 0) {
		log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", f->s->account.address, f->m->uid, err);
		rc = FETCH_FAILED;
	}
	if (rc == FETCH_OK) {
		imap_header_fields_filter(h.data, h.len, &it->sec, &out);
		uint64_t woff, wlen;
		window(&it->sec, out.len, &woff, &wlen);
		label(f->s, it, woff);
		conn_printf(f->s->conn, "{%llu}\r\n", (unsigned long long)wlen);
		to_conn(f->s, out.data + woff, (size_t)wlen);
	}
	buf_free(&h);
	buf_free(&out);
	return rc;
}

/* BODY[section]<partial>: the octets streamed from the blob into the literal. */
static int write_section(struct fetch_msg *f, const struct imap_fetch_item *it)
{
	int rc = open_body(f);
	if (rc != FETCH_OK)
		return rc;
	uint64_t off = 0, n = 0;
	if (imap_section_range(store_body_parts(f->body), store_body_size(f->body), &it->sec, &off, &n) == 0)
		off = n = 0; /* no such part: empty, as most servers answer */
	if (it->sec.kind == IMAP_SECTION_HEADER_FIELDS || it->sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
		return write_header_fields(f, it, off, n);
	uint64_t woff, wlen;
	window(&it->sec, n, &woff, &wlen);
	label(f->s, it, woff);
	conn_printf(f->s->conn, "{%llu}\r\n", (unsigned long long)wlen);
	char err[256];
	if (wlen > 0 && store_body_read(f->body, off + woff, wlen, to_conn, f->s, err, sizeof(err)) < 0)
		return stream_failed(f, err);
	return FETCH_OK;
}

/* Decodes a part's body on its way to the literal, keeping the window's octets. */
struct binary_sink {
	struct imap_session *s;
	struct imap_decoder dec;
	struct buf out;
	uint64_t pos, from, to; /* decoded octets seen, window [from, to) */
};

static void binary_emit(struct binary_sink *b)
{
	uint64_t lo = b->from > b->pos ? b->from : b->pos,
	         hi = b->to < b->pos + b->out.len ? b->to : b->pos + b->out.len;
	if (lo < hi)
		conn_write(b->s->conn, b->out.data + (lo - b->pos), (size_t)(hi - lo));
	b->pos += b->out.len;
	buf_reset(&b->out);
}

static int binary_feed(void *arg, const char *p, size_t n)
{
	struct binary_sink *b = arg;
	imap_decoder_feed(&b->dec, p, n, &b->out);
	binary_emit(b);
	return b->pos >= b->to; /* the window is written: stop reading */
}

/* BINARY[part] / BINARY.SIZE[part]: the part decoded from its transfer encoding (RFC
 * 3516); a literal8 when the decoded octets hold a NUL. A multipart or message part
 * is sent as it is (there is no encoding to undo). */
static int write_binary(struct fetch_msg *f, const struct imap_fetch_item *it)
{
	int rc = open_body(f);
	if (rc != FETCH_OK)
		return rc;
	const struct imap_part *root = store_body_parts(f->body), *p = imap_section_part(root, &it->sec);
	bool leaf = p != NULL && !(p->flags & (IMAP_PART_MULTIPART | IMAP_PART_MESSAGE));
	if (leaf && p->cte == IMAP_CTE_UNKNOWN)
		return FETCH_UNKNOWN_CTE;
	uint64_t off = 0, n = 0;
	if (imap_section_range(root, store_body_size(f->body), &it->sec, &off, &n) == 0)
		off = n = 0;
	uint64_t size = leaf ? p->decoded_size : n;
	if (it->kind == IMAP_FETCH_BINARY_SIZE) {
		conn_printf(f->s->conn, "%s %llu", it->label, (unsigned long long)size);
		return FETCH_OK;
	}
	uint64_t woff, wlen;
	window(&it->sec, size, &woff, &wlen);
	label(f->s, it, woff);
	const struct imap_part *whole = p != NULL ? p : it->sec.depth == 0 ? root : NULL;
	bool nul = leaf ? (p->flags & IMAP_PART_BINARY_NUL) != 0
	                : whole != NULL && (whole->flags & IMAP_PART_HAS_NUL);
	conn_printf(f->s->conn, "%s{%llu}\r\n", nul ? "~" : "", (unsigned long long)wlen);
	if (wlen == 0)
		return FETCH_OK;
	char err[256];
	if (!leaf) {
		if (store_body_read(f->body, off + woff, wlen, to_conn, f->s, err, sizeof(err)) < 0)
			return stream_failed(f, err);
		return FETCH_OK;
	}
	struct binary_sink b = {.s = f->s, .from = woff, .to = woff + wlen};
	buf_init(&b.out, BUF_UNLIMITED);
	imap_decoder_init(&b.dec, p->cte);
	rc = store_body_read(f->body, off, n, binary_feed, &b, err, sizeof(err));
	if (rc == 0 && b.pos < b.to) {
		imap_decoder_finish(&b.dec, &b.out);
		binary_emit(&b);
	}
	buf_free(&b.out);
	if (rc < 0 || b.pos < b.to)
		return stream_failed(f, rc < 0 ? err : "decoded part shorter than its recorded size");
	return FETCH_OK;
}

/* ---- one message ---- */

static int write_item(struct fetch_msg *f, const struct imap_fetch_item *it)
{
	struct imap_session *s = f->s;
	const struct store_message *sm = &f->meta;
	char date[40];
	switch (it->kind) {
	case IMAP_FETCH_FLAGS:
		write_flags(s, f->m);
		return FETCH_OK;
	case IMAP_FETCH_UID:
		conn_puts(s->conn, "UID ");
		conn_put_uint(s->conn, f->m->uid);
		return FETCH_OK;
	case IMAP_FETCH_MODSEQ:
		conn_printf(s->conn, "MODSEQ (%llu)", (unsigned long long)f->m->modseq);
		return FETCH_OK;
	case IMAP_FETCH_INTERNALDATE:
		imap_date_time_format(sm->msg.internaldate, date, sizeof(date));
		conn_printf(s->conn, "INTERNALDATE \"%s\"", date);
		return FETCH_OK;
	case IMAP_FETCH_SIZE:
		conn_printf(s->conn, "RFC822.SIZE %llu", (unsigned long long)sm->msg.size);
		return FETCH_OK;
	case IMAP_FETCH_ENVELOPE:
		conn_printf(s->conn, "ENVELOPE %s", sm->envelope ? sm->envelope : "NIL");
		return FETCH_OK;
	case IMAP_FETCH_BODYSTRUCTURE:
		conn_printf(s->conn, "BODYSTRUCTURE %s", sm->bodystructure ? sm->bodystructure : "NIL");
		return FETCH_OK;
	case IMAP_FETCH_BODY:
		conn_printf(s->conn, "BODY %s", sm->body ? sm->body : "NIL");
		return FETCH_OK;
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return write_binary(f, it);
	case IMAP_FETCH_SECTION:
		return write_section(f, it);
	}
	return FETCH_FAILED;
}

static unsigned meta_wanted(const struct imap_fetch_request *r)
{
	unsigned want = 0;
	for (size_t k = 0; k < r->n; k++) {
		if (r->items[k].kind == IMAP_FETCH_ENVELOPE)
			want |= STORE_WANT_ENVELOPE;
		else if (r->items[k].kind == IMAP_FETCH_BODYSTRUCTURE)
			want |= STORE_WANT_BODYSTRUCTURE;
		else if (r->items[k].kind == IMAP_FETCH_BODY)
			want |= STORE_WANT_BODY;
	}
	return want;
}

/* RFC 6855 7 and RFC 6858 3: a client that did not enable UTF-8 gets an ENVELOPE
 * without 8-bit octets, made again from the header (the stored one keeps UTF-8 for
 * the others). Runs before the answer starts, since reading the header may fail. */
static int downgrade_envelope(struct fetch_msg *f)
{
	const char *env = f->meta.envelope;
	bool high = false;
	for (const char *p = env; !f->s->enabled_utf8 && p != NULL && *p && !high; p++)
		high = (unsigned char)*p >= 0x80;
	if (!high)
		return FETCH_OK;
	int rc = open_body(f);
	if (rc != FETCH_OK)
		return rc;
	struct imap_section sec = {.kind = IMAP_SECTION_HEADER};
	uint64_t off = 0, n = 0;
	if (imap_section_range(store_body_parts(f->body), store_body_size(f->body), &sec, &off, &n) == 0)
		off = n = 0;
	struct buf h, out;
	char err[256];
	buf_init(&h, BUF_UNLIMITED);
	if (n > 0 && store_body_read(f->body, off, n, to_buf, &h, err, sizeof(err)) < 0) {
		log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", f->s->account.address, f->m->uid, err);
		buf_free(&h);
		return FETCH_FAILED;
	}
	buf_init(&out, BUF_UNLIMITED);
	imap_envelope_write_ascii(&out, h.len > 0 ? h.data : "", h.len);
	free(f->meta.envelope);
	f->meta.envelope = buf_strdup(&out);
	buf_free(&out);
	buf_free(&h);
	return FETCH_OK;
}

/* Items that can fail before anything of this message was written go first; the
 * answer starts only once the metadata is in hand. seen_now: \Seen was just set by
 * this FETCH, so FLAGS is sent even when not asked for (RFC 9051 6.4.5). */
static int fetch_one(struct imap_session *s, const struct imap_fetch_request *r, const struct imap_msg *m,
                     size_t seq, bool seen_now)
{
	struct fetch_msg f = {.s = s, .m = m, .seq = seq};
	if (r->needs_meta) {
		char err[256];
		int rc = store_message_get(s->store, s->view.id, f.m->uid, meta_wanted(r), &f.meta, err,
		                           sizeof(err));
		if (rc != 1) {
			if (rc < 0)
				log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", s->account.address,
				        f.m->uid, err);
			return rc < 0 ? FETCH_FAILED : FETCH_GONE;
		}
	}
	int rc = r->reads_content ? open_body(&f) : FETCH_OK;
	if (rc == FETCH_OK)
		rc = downgrade_envelope(&f);
	bool has_flags = false;
	if (rc == FETCH_OK) {
		conn_puts(s->conn, "* ");
		conn_put_uint(s->conn, f.seq);
		conn_puts(s->conn, " FETCH (");
		bool first = true;
		for (size_t k = 0; k < r->n && rc == FETCH_OK; k++) {
			/* a shared view has no MODSEQ: FETCH asking it answers BAD, and NOTIFY's
			 * MessageNew attributes, set for every mailbox, go without it there */
			if (r->items[k].kind == IMAP_FETCH_MODSEQ && s->view.shared)
				continue;
			if (!first)
				conn_puts(s->conn, " ");
			first = false;
			rc = write_item(&f, &r->items[k]);
			has_flags |= r->items[k].kind == IMAP_FETCH_FLAGS;
		}
		if (seen_now && !has_flags && rc == FETCH_OK) {
			conn_puts(s->conn, " ");
			write_flags(s, f.m);
		}
		if (rc != FETCH_BROKEN)
			conn_puts(s->conn, ")\r\n");
	}
	store_body_close(f.body);
	store_message_free(&f.meta);
	return rc;
}

void imap_fetch_notify(struct imap_session *s, const struct imap_fetch_request *r, size_t i)
{
	uint32_t uid = s->view.v[i].uid;
	if (!imap_vault_visible(s, uid)) /* masked or withdrawn since */
		return;
	int rc = fetch_one(s, r, &s->view.v[i], i + 1, false);
	if (rc == FETCH_OK && s->view.shared && r->reads_body)
		imap_vault_read(s, uid); /* a document consulted: listed, as by FETCH */
	if (rc == FETCH_BROKEN) {
		conn_puts(s->conn, "* BYE Internal error reading a message\r\n");
		s->close_after_reply = true;
	}
}

/* Which outcome the tagged answer reports when several messages ended differently. */
static int rank(int rc)
{
	switch (rc) {
	case FETCH_BROKEN:
		return 3;
	case FETCH_FAILED:
		return 2;
	case FETCH_UNKNOWN_CTE:
		return 1;
	default:
		return 0;
	}
}

static void fetch_done(struct imap_session *s, struct imap_command *c, int worst, size_t gone)
{
	if (worst == FETCH_BROKEN) {
		/* a literal was promised and cannot be delivered: nothing sane can follow */
		conn_puts(s->conn, "* BYE Internal error reading a message\r\n");
		s->close_after_reply = true;
	} else if (worst == FETCH_UNKNOWN_CTE) {
		imap_send(s, c->tag, IMAP_R_UNKNOWN_CTE);
	} else if (worst == FETCH_FAILED) {
		imap_send(s, c->tag, IMAP_R_SERVERBUG_READ);
	} else if (gone) {
		imap_send(s, c->tag, IMAP_R_EXPUNGEISSUED);
	} else {
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
}

/* How the messages of one FETCH ended. */
struct fetch_tally {
	size_t gone, bodies;
	int worst;
};

static void fetch_msg(struct imap_session *s, const struct imap_fetch_request *r, const struct imap_msg *m,
                      size_t seq, bool newly, struct fetch_tally *t)
{
	if (r->changedsince && m->modseq <= r->changedsince)
		return;
	if (!imap_vault_visible(s, m->uid)) { /* masked or withdrawn since */
		t->gone++;
		return;
	}
	int rc = fetch_one(s, r, m, seq, newly);
	if (rc == FETCH_OK && s->view.shared && r->reads_body)
		imap_vault_read(s, m->uid); /* a document consulted: listed */
	t->gone += rc == FETCH_GONE;
	t->bodies += rc == FETCH_OK && r->reads_content;
	if (rank(rc) > rank(t->worst))
		t->worst = rc;
}

/* A UID FETCH of a few messages before the view was read (issue 15): answered as the
 * view would answer, from the store's lookup. One that sets \Seen (flags kept in the
 * view) or asks VANISHED (every UID known) reads the view. Returns true when answered. */
static bool fetch_lookup(struct imap_session *s, struct imap_command *c, const struct imap_fetch_request *r)
{
	struct imap_view_hits h;
	if (r->vanished || (r->sets_seen && !s->view.readonly) ||
	    imap_view_lookup(s, c->args[0].str, &h) != 1)
		return false;
	struct fetch_tally t = {.worst = FETCH_OK};
	for (size_t k = 0; k < h.n && t.worst != FETCH_BROKEN; k++)
		fetch_msg(s, r, &h.m[k], h.seq[k], false, &t);
	imap_view_hits_free(&h);
	s->n_fetch += (unsigned)t.bodies;
	fetch_done(s, c, t.worst, t.gone);
	return true;
}

void cmd_fetch(struct imap_session *s, struct imap_command *c)
{
	bool uid = strcmp(c->name, "UID FETCH") == 0;
	struct imap_fetch_request r;
	imap_fetch_request_init(&r);
	size_t *idx = NULL, n = 0;
	const char *err = "Invalid FETCH arguments";
	if (c->nargs < 2 || c->nargs > 3 || c->args[0].type != IMAP_ARG_ATOM ||
	    imap_fetch_parse(&c->args[1], c->nargs == 3 ? &c->args[2] : NULL, uid, &r, &err) < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
		goto out;
	}
	if (r.modseq)
		imap_condstore_enable(s);
	if (r.modseq && s->view.shared) { /* MODSEQ, CHANGEDSINCE: RFC 7162 3.1.2 */
		imap_send(s, c->tag, IMAP_R_NOMODSEQ);
		goto out;
	}
	if (r.vanished && !s->enabled_qresync) { /* RFC 7162 3.2.6 */
		imap_send(s, c->tag, IMAP_R_VANISHED_NEEDS_QRESYNC);
		goto out;
	}
	if (s->view.pending && uid && fetch_lookup(s, c, &r))
		goto out;
	if (imap_view_load(s) < 0) { /* read now if it was not (CMD_OWN_VIEW) */
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		goto out;
	}
	if (imap_view_resolve(s, c->args[0].str, uid, &idx, &n, &err) < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
		goto out;
	}
	if (r.vanished)
		imap_qresync_vanished(s, c->args[0].str, r.changedsince);
	bool *newly = xcalloc(n ? n : 1, sizeof(*newly));
	if (r.sets_seen && !s->view.readonly)
		mark_seen(s, idx, n, newly);
	struct fetch_tally t = {.worst = FETCH_OK};
	for (size_t k = 0; k < n && t.worst != FETCH_BROKEN; k++)
		fetch_msg(s, &r, &s->view.v[idx[k]], idx[k] + 1, newly[k], &t);
	free(newly);
	s->n_fetch += (unsigned)t.bodies;
	fetch_done(s, c, t.worst, t.gone);
out:
	free(idx);
	imap_fetch_request_free(&r);
}

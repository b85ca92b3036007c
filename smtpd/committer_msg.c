/* committer_msg.c: the committer's frames (see committer_msg.h). */
#include "smtpd/committer_msg.h"

#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "lib/str.h"

#define FRAME_VERSION 2 /* 2: the patients' copies, and the filing left to the session */
#define KEPT_FIELDS 8
/* a request with more recipients or records than this is refused unread */
#define COUNT_MAX 100000

static void put32(struct buf *b, uint32_t v)
{
	const uint8_t o[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	buf_put(b, o, sizeof o);
}

static void put64(struct buf *b, int64_t v)
{
	put32(b, (uint32_t)((uint64_t)v >> 32));
	put32(b, (uint32_t)v);
}

static void put_bytes(struct buf *b, const void *p, size_t n)
{
	put32(b, (uint32_t)n);
	buf_put(b, p, n);
}

static void put_text(struct buf *b, const char *s)
{
	put_bytes(b, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

uint32_t committer_frame_len(const uint8_t head[COMMITTER_FRAME_HEAD])
{
	return (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
}

/* The frame's head, its length filled in once the body is written (end_frame). */
static size_t begin_frame(struct buf *out, char kind)
{
	size_t at = out->len;
	put32(out, 0);
	const char magic[4] = {'M', kind, FRAME_VERSION, 0};
	buf_put(out, magic, sizeof magic);
	return at;
}

static void end_frame(struct buf *out, size_t at)
{
	uint32_t n = (uint32_t)(out->len - at - COMMITTER_FRAME_HEAD);
	uint8_t *h = (uint8_t *)out->data + at;
	h[0] = (uint8_t)(n >> 24);
	h[1] = (uint8_t)(n >> 16);
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
}

static void put_sender(struct buf *b, const struct policy_sender *s)
{
	put32(b, (uint32_t)s->auth);
	put_text(b, s->account);
	put32(b, s->by_password ? 1 : 0);
	put_bytes(b, s->password_stamp, sizeof s->password_stamp);
	put_text(b, s->peer_ip);
	put_text(b, s->tls_subject_dn);
	put_text(b, s->listener);
	put_text(b, s->spf_domain);
	put_text(b, s->listed_domain);
}

static void put_kept(struct buf *b)
{
	size_t n = audit_deferred_count();
	put32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		struct audit_event ev;
		int64_t when = 0;
		str_assert(audit_deferred_get(i, &ev, &when), "i below audit_deferred_count");
		put64(b, when);
		const char *f[KEPT_FIELDS] = {ev.actor,  ev.auth,   ev.action, ev.target,
		                              ev.detail, ev.result, ev.peer,   ev.patient};
		for (size_t j = 0; j < KEPT_FIELDS; j++)
			put_text(b, f[j]);
	}
}

/* A recipient's copy: empty (nothing withheld, no part) for one who is not a patient. */
static void put_copy(struct buf *b, const struct vault_copy_plan *p)
{
	put32(b, p->whole ? 1 : 0);
	put32(b, p->strip_prefix ? 1 : 0);
	put32(b, p->invisible);
	put32(b, p->other_patient);
	put32(b, p->uninspected);
	put32(b, (uint32_t)p->nparts);
	for (size_t i = 0; i < p->nparts; i++)
		buf_put_char(b, (char)p->parts[i]);
}

void committer_req_write(struct buf *out, const char *queue_id, const struct policy_sender *s,
                         const char *mail_from, const struct dsn_mail *dsn, const char *const *rcpts,
                         const struct dsn_rcpt *rcpt_dsn, const struct vault_copy_plan *copies, size_t nrcpt,
                         const char *data, size_t len)
{
	size_t at = begin_frame(out, 'C');
	put_text(out, queue_id);
	put_sender(out, s);
	put_text(out, mail_from);
	put32(out, dsn != NULL ? (uint32_t)dsn->ret : 0);
	put_text(out, dsn != NULL ? dsn->envid : "");
	put32(out, rcpt_dsn != NULL ? 1 : 0);
	put32(out, (uint32_t)nrcpt);
	for (size_t i = 0; i < nrcpt; i++) {
		put_text(out, rcpts[i]);
		put32(out, rcpt_dsn != NULL ? rcpt_dsn[i].notify : 0);
		put_text(out, rcpt_dsn != NULL ? rcpt_dsn[i].orcpt : "");
	}
	for (size_t i = 0; i < nrcpt; i++)
		put_copy(out, &copies[i]);
	put_kept(out);
	put_bytes(out, data, len);
	end_frame(out, at);
}

void committer_withdraw_write(struct buf *out)
{
	end_frame(out, begin_frame(out, 'W'));
}

bool committer_is_withdraw(const uint8_t *p)
{
	static const uint8_t w[COMMITTER_WITHDRAW_LEN] = {0, 0, 0, 4, 'M', 'W', FRAME_VERSION, 0};
	return memcmp(p, w, sizeof w) == 0;
}

/* ---- parsing: a cursor that turns bad at the first field that does not fit ---- */

struct cursor {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static uint32_t get32(struct cursor *c)
{
	if (c->bad || c->n < 4) {
		c->bad = true;
		return 0;
	}
	uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->n -= 4;
	return v;
}

static int64_t get64(struct cursor *c)
{
	uint64_t hi = get32(c);
	return (int64_t)(hi << 32 | get32(c));
}

/* The next bytes field: a pointer into the frame and its length (NULL when bad). */
static const uint8_t *get_bytes(struct cursor *c, size_t *len)
{
	uint32_t n = get32(c);
	if (c->bad || n > c->n) {
		c->bad = true;
		*len = 0;
		return NULL;
	}
	const uint8_t *at = c->p;
	c->p += n;
	c->n -= n;
	*len = n;
	return at;
}

/* A text field: no NUL inside; NULL when bad. */
static const uint8_t *get_text(struct cursor *c, size_t *len)
{
	const uint8_t *t = get_bytes(c, len);
	if (t != NULL && memchr(t, '\0', *len) != NULL) {
		c->bad = true;
		return NULL;
	}
	return t;
}

/* A text field into a fixed array of cap octets (its NUL included). */
static void get_fixed(struct cursor *c, char *out, size_t cap)
{
	size_t n;
	const uint8_t *t = get_text(c, &n);
	if (t == NULL || n >= cap) {
		c->bad = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, t, n);
	out[n] = '\0';
}

static char *get_dup(struct cursor *c)
{
	size_t n;
	const uint8_t *t = get_text(c, &n);
	return t != NULL ? xstrndup((const char *)t, n) : NULL;
}

static void get_sender(struct cursor *c, struct policy_sender *s)
{
	uint32_t auth = get32(c);
	if (auth > SENDER_TOKEN)
		c->bad = true;
	s->auth = (enum sender_auth)auth;
	get_fixed(c, s->account, sizeof s->account);
	uint32_t by_password = get32(c);
	if (by_password > 1)
		c->bad = true;
	s->by_password = by_password == 1;
	size_t n;
	const uint8_t *stamp = get_bytes(c, &n);
	if (stamp == NULL || n != sizeof s->password_stamp)
		c->bad = true;
	else
		memcpy(s->password_stamp, stamp, n);
	get_fixed(c, s->peer_ip, sizeof s->peer_ip);
	get_fixed(c, s->tls_subject_dn, sizeof s->tls_subject_dn);
	get_fixed(c, s->listener, sizeof s->listener);
	get_fixed(c, s->spf_domain, sizeof s->spf_domain);
	get_fixed(c, s->listed_domain, sizeof s->listed_domain);
}

static void get_rcpts(struct cursor *c, struct committer_req *r)
{
	uint32_t with_dsn = get32(c);
	uint32_t n = get32(c);
	/* each recipient takes at least 12 octets: a count beyond what is left is a lie */
	if (c->bad || with_dsn > 1 || n == 0 || n > COUNT_MAX || n > c->n / 12) {
		c->bad = true;
		return;
	}
	r->rcpts = xcalloc(n, sizeof *r->rcpts);
	r->rcpt_dsn = xcalloc(n, sizeof *r->rcpt_dsn);
	r->nrcpt = n;
	for (size_t i = 0; i < n && !c->bad; i++) {
		r->rcpts[i] = get_dup(c);
		r->rcpt_dsn[i].notify = get32(c);
		get_fixed(c, r->rcpt_dsn[i].orcpt, sizeof r->rcpt_dsn[i].orcpt);
	}
	if (!with_dsn) {
		free(r->rcpt_dsn);
		r->rcpt_dsn = NULL;
	}
}

/* Each recipient's copy: flags 0 or 1, a known reason for every part, at most
 * COUNT_MAX parts (a message has at most max_mime_parts). */
static void get_copies(struct cursor *c, struct committer_req *r)
{
	if (c->bad)
		return;
	r->copies = xcalloc(r->nrcpt, sizeof *r->copies);
	for (size_t i = 0; i < r->nrcpt && !c->bad; i++) {
		struct vault_copy_plan *p = &r->copies[i];
		uint32_t whole = get32(c), strip = get32(c);
		p->invisible = get32(c);
		p->other_patient = get32(c);
		p->uninspected = get32(c);
		uint32_t n = get32(c);
		if (c->bad || whole > 1 || strip > 1 || n > COUNT_MAX || n > c->n) {
			c->bad = true;
			return;
		}
		p->whole = whole == 1;
		p->strip_prefix = strip == 1;
		p->nparts = n;
		p->parts = xcalloc(n ? n : 1, sizeof *p->parts);
		for (size_t j = 0; j < n; j++) {
			if (c->p[j] > VW_UNINSPECTED) {
				c->bad = true;
				return;
			}
			p->parts[j] = (enum vault_withhold)c->p[j];
		}
		c->p += n;
		c->n -= n;
	}
}

static void get_kept(struct cursor *c, struct committer_req *r)
{
	uint32_t n = get32(c);
	/* each record takes at least 40 octets */
	if (c->bad || n > COUNT_MAX || n > c->n / 40) {
		c->bad = true;
		return;
	}
	r->kept = xcalloc(n ? n : 1, sizeof *r->kept);
	r->nkept = n;
	for (size_t i = 0; i < n && !c->bad; i++) {
		r->kept[i].when = get64(c);
		for (size_t j = 0; j < KEPT_FIELDS; j++)
			r->kept[i].f[j] = get_dup(c);
	}
}

static bool magic_ok(struct cursor *c, char kind)
{
	if (c->n < 4 || c->p[0] != 'M' || c->p[1] != (uint8_t)kind || c->p[2] != FRAME_VERSION ||
	    c->p[3] != 0)
		return false;
	c->p += 4;
	c->n -= 4;
	return true;
}

int committer_req_parse(const uint8_t *p, size_t n, struct committer_req *r, char *err, size_t errlen)
{
	struct cursor c = {p, n, false};
	memset(r, 0, sizeof *r);
	if (!magic_ok(&c, 'C')) {
		str_error(err, errlen, "not a committer request of version %d", FRAME_VERSION);
		return -1;
	}
	get_fixed(&c, r->queue_id, sizeof r->queue_id);
	get_sender(&c, &r->sender);
	r->mail_from = get_dup(&c);
	uint32_t ret = get32(&c);
	if (ret > DSN_RET_HDRS)
		c.bad = true;
	r->dsn.ret = (enum dsn_ret)ret;
	get_fixed(&c, r->dsn.envid, sizeof r->dsn.envid);
	get_rcpts(&c, r);
	get_copies(&c, r);
	get_kept(&c, r);
	size_t len = 0;
	const uint8_t *data = get_bytes(&c, &len);
	if (c.bad || data == NULL || c.n != 0) {
		committer_req_free(r);
		str_error(err, errlen, "malformed committer request");
		return -1;
	}
	r->data = (const char *)data;
	r->len = len;
	return 0;
}

void committer_req_free(struct committer_req *r)
{
	free(r->mail_from);
	for (size_t i = 0; r->rcpts != NULL && i < r->nrcpt; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	free(r->rcpt_dsn);
	for (size_t i = 0; r->copies != NULL && i < r->nrcpt; i++)
		vault_copy_plan_free(&r->copies[i]);
	free(r->copies);
	for (size_t i = 0; r->kept != NULL && i < r->nkept; i++)
		for (size_t j = 0; j < KEPT_FIELDS; j++)
			free(r->kept[i].f[j]);
	free(r->kept);
	memset(r, 0, sizeof *r);
}

void committer_ans_write(struct buf *out, const struct committer_ans *a)
{
	size_t at = begin_frame(out, 'A');
	put32(out, (uint32_t)(a->rc == 0 ? 0 : a->rc < 0 ? 2 : 1));
	put32(out, a->kept_written ? 1 : 0);
	put32(out, a->to_file ? 1 : 0);
	put32(out, a->batch);
	put32(out, (uint32_t)a->st.code);
	put_text(out, a->st.enhanced);
	put_text(out, a->st.text);
	end_frame(out, at);
}

int committer_ans_parse(const uint8_t *p, size_t n, struct committer_ans *a)
{
	struct cursor c = {p, n, false};
	if (!magic_ok(&c, 'A'))
		return -1;
	uint32_t r = get32(&c);
	uint32_t kept = get32(&c);
	uint32_t to_file = get32(&c);
	a->batch = get32(&c);
	uint32_t code = get32(&c);
	get_fixed(&c, a->st.enhanced, sizeof a->st.enhanced);
	get_fixed(&c, a->st.text, sizeof a->st.text);
	if (c.bad || c.n != 0 || r > 2 || kept > 1 || to_file > 1 || code > 599)
		return -1;
	a->rc = r == 0 ? 0 : r == 2 ? -1 : 1;
	a->kept_written = kept == 1;
	a->to_file = to_file == 1;
	a->st.code = (int)code;
	return 0;
}

/* web_msg.c: the front and session processes' messages (see web_msg.h). Integers are
 * big-endian; a string is a 16-bit length and its bytes (no NUL inside), a form value
 * a 32-bit length and its bytes. */
#include "webd/web_msg.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/str.h"

#define REQ_POST 1u
#define REQ_FORM_BAD 2u
#define RESP_SANDBOX 1u
#define RESP_CLOSE 2u

/* ---- writing ------------------------------------------------------------------------- */

static void put_u8(struct buf *b, unsigned v)
{
	buf_put_char(b, (char)(v & 0xff));
}

static void put_u16(struct buf *b, unsigned v)
{
	put_u8(b, v >> 8);
	put_u8(b, v);
}

static void put_u32(struct buf *b, uint32_t v)
{
	put_u16(b, v >> 16);
	put_u16(b, v & 0xffff);
}

/* Strings here come from the fixed arrays of struct web_req: under 64 KiB. */
static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	put_u16(b, (unsigned)n);
	buf_put(b, s, n);
}

/* The header before a payload of len bytes written after it (patched in at the end). */
static size_t frame_open(struct buf *b, enum web_msg_type type)
{
	size_t at = b->len;

	put_u32(b, WEB_MSG_MAGIC);
	put_u16(b, WEB_MSG_VERSION);
	put_u16(b, type);
	put_u32(b, 0);
	return at;
}

static void frame_close(struct buf *b, size_t at)
{
	uint32_t len = (uint32_t)(b->len - at - WEB_MSG_HEAD_SIZE);
	uint8_t *p = (uint8_t *)b->data + at + 8;

	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

void web_msg_put_request(struct buf *out, const struct web_req *r)
{
	size_t at = frame_open(out, WEB_MSG_REQUEST);

	put_u8(out, (r->post ? REQ_POST : 0) | (r->form.bad ? REQ_FORM_BAD : 0));
	put_str(out, r->path);
	put_u8(out, (unsigned)r->nquery);
	for (size_t i = 0; i < r->nquery; i++) {
		put_str(out, r->query[i].name);
		put_str(out, r->query[i].value);
	}
	put_str(out, r->cookie_session);
	put_str(out, r->cookie_login);
	put_u8(out, (unsigned)r->form.n);
	for (size_t i = 0; i < r->form.n; i++) {
		put_str(out, r->form.f[i].name);
		put_u32(out, (uint32_t)r->form.f[i].value.len);
		buf_put(out, r->form.f[i].value.data, r->form.f[i].value.len);
	}
	frame_close(out, at);
}

void web_msg_put_response(struct buf *out, const struct web_req *r)
{
	size_t at = frame_open(out, WEB_MSG_RESPONSE);

	put_u16(out, r->status ? r->status : 200);
	put_u8(out, (r->sandbox ? RESP_SANDBOX : 0) | (r->close ? RESP_CLOSE : 0));
	put_str(out, r->content_type ? r->content_type : "");
	put_str(out, r->location);
	put_str(out, r->set_cookie[0]);
	put_str(out, r->set_cookie[1]);
	put_str(out, r->disposition);
	put_u32(out, (uint32_t)r->body.len);
	buf_put(out, r->body.data, r->body.len);
	frame_close(out, at);
}

/* ---- reading ------------------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t len, off;
	const char *bad; /* the first problem, NULL while all checks */
};

static bool take(struct rd *r, size_t n, const char *what)
{
	if (r->bad != NULL)
		return false;
	if (n > r->len - r->off) {
		r->bad = what;
		return false;
	}
	return true;
}

static unsigned get_u8(struct rd *r, const char *what)
{
	if (!take(r, 1, what))
		return 0;
	return r->p[r->off++];
}

static unsigned get_u16(struct rd *r, const char *what)
{
	unsigned hi = get_u8(r, what);
	return (hi << 8) | get_u8(r, what);
}

static uint32_t get_u32(struct rd *r, const char *what)
{
	uint32_t hi = get_u16(r, what);
	return (hi << 16) | get_u16(r, what);
}

/* A string into dst (dstlen with its NUL): longer, or holding a NUL, is refused. */
static void get_str(struct rd *r, char *dst, size_t dstlen, const char *what)
{
	size_t n = get_u16(r, what);

	dst[0] = '\0';
	if (!take(r, n, what))
		return;
	if (n >= dstlen || memchr(r->p + r->off, '\0', n) != NULL) {
		r->bad = what;
		return;
	}
	memcpy(dst, r->p + r->off, n);
	dst[n] = '\0';
	r->off += n;
}

static int finish(struct rd *r, char *err, size_t errlen)
{
	if (r->bad == NULL && r->off != r->len)
		r->bad = "bytes after the last field";
	if (r->bad == NULL)
		return 0;
	str_error(err, errlen, "%s", r->bad);
	return -1;
}

int web_msg_get_request(const uint8_t *p, size_t len, struct web_req *r, size_t max_form, char *err,
                        size_t errlen)
{
	struct rd rd = {p, len, 0, NULL};
	unsigned flags = get_u8(&rd, "flags");
	size_t form_total = 0;

	if (flags & ~(REQ_POST | REQ_FORM_BAD))
		rd.bad = "unknown flags";
	r->post = flags & REQ_POST;
	r->form.bad = flags & REQ_FORM_BAD;
	get_str(&rd, r->path_buf, sizeof(r->path_buf), "path");
	r->path = r->path_buf;
	if (rd.bad == NULL && r->path_buf[0] != '/')
		rd.bad = "path not absolute";
	r->nquery = get_u8(&rd, "query count");
	if (r->nquery > WEB_QUERY_ARGS) {
		rd.bad = "too many query arguments";
		r->nquery = 0;
	}
	for (size_t i = 0; i < r->nquery; i++) {
		get_str(&rd, r->query[i].name, sizeof(r->query[i].name), "query name");
		get_str(&rd, r->query[i].value, sizeof(r->query[i].value), "query value");
	}
	get_str(&rd, r->cookie_session, sizeof(r->cookie_session), "session cookie");
	get_str(&rd, r->cookie_login, sizeof(r->cookie_login), "login cookie");
	size_t n = get_u8(&rd, "field count");
	if (n > WEB_FORM_FIELDS) {
		rd.bad = "too many form fields";
		n = 0;
	}
	for (size_t i = 0; i < n && rd.bad == NULL; i++) {
		struct web_field *f = &r->form.f[r->form.n];
		get_str(&rd, f->name, sizeof(f->name), "field name");
		uint32_t vlen = get_u32(&rd, "field length");
		form_total += vlen;
		if (rd.bad == NULL && form_total > max_form)
			rd.bad = "form over web_max_form";
		if (!take(&rd, vlen, "field value"))
			break;
		buf_init(&f->value, max_form);
		r->form.n++;
		if (buf_append(&f->value, rd.p + rd.off, vlen) < 0)
			rd.bad = "form over web_max_form";
		rd.off += vlen;
	}
	return finish(&rd, err, errlen);
}

int web_msg_get_response(const uint8_t *p, size_t len, struct web_req *r, char *err, size_t errlen)
{
	struct rd rd = {p, len, 0, NULL};

	r->status = get_u16(&rd, "status");
	if (rd.bad == NULL && (r->status < 100 || r->status > 599))
		rd.bad = "status out of range";
	unsigned flags = get_u8(&rd, "flags");
	if (flags & ~(RESP_SANDBOX | RESP_CLOSE))
		rd.bad = "unknown flags";
	r->sandbox = flags & RESP_SANDBOX;
	r->close = flags & RESP_CLOSE;
	get_str(&rd, r->content_type_buf, sizeof(r->content_type_buf), "content type");
	r->content_type = r->content_type_buf[0] ? r->content_type_buf : NULL;
	get_str(&rd, r->location, sizeof(r->location), "location");
	get_str(&rd, r->set_cookie[0], sizeof(r->set_cookie[0]), "cookie");
	get_str(&rd, r->set_cookie[1], sizeof(r->set_cookie[1]), "cookie");
	get_str(&rd, r->disposition, sizeof(r->disposition), "disposition");
	uint32_t blen = get_u32(&rd, "body length");
	buf_reset(&r->body);
	if (take(&rd, blen, "body")) {
		if (buf_append(&r->body, rd.p + rd.off, blen) < 0)
			rd.bad = "body over its limit";
		rd.off += blen;
	}
	return finish(&rd, err, errlen);
}

/* ---- frames ---------------------------------------------------------------------------- */

/* Reads exactly n bytes into dst: n, or the bytes read before the end (or -1). */
static ssize_t read_exact(int fd, void *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, (char *)dst + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

enum web_msg_read web_msg_read(int fd, enum web_msg_type type, size_t max, struct buf *payload, char *err,
                               size_t errlen)
{
	uint8_t h[WEB_MSG_HEAD_SIZE];
	ssize_t n = read_exact(fd, h, sizeof(h));
	struct rd rd = {h, sizeof(h), 0, NULL};

	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return WEB_MSG_EOF; /* the other process is gone: no message to judge */
	if (n != (ssize_t)sizeof(h)) {
		str_error(err, errlen, "header cut short (%zd bytes)", n);
		return WEB_MSG_REFUSED;
	}
	uint32_t magic = get_u32(&rd, "magic");
	unsigned version = get_u16(&rd, "version"), t = get_u16(&rd, "type");
	uint32_t len = get_u32(&rd, "length");
	if (magic != WEB_MSG_MAGIC || version != WEB_MSG_VERSION || t != (unsigned)type) {
		str_error(err, errlen, "bad header (magic %08x, version %u, type %u)", magic, version, t);
		return WEB_MSG_REFUSED;
	}
	if (len > max) {
		str_error(err, errlen, "length %u over %zu", len, max);
		return WEB_MSG_REFUSED;
	}
	buf_reset(payload);
	if (buf_reserve(payload, len) < 0) {
		str_error(err, errlen, "length %u over the buffer's limit", len);
		return WEB_MSG_REFUSED;
	}
	n = read_exact(fd, payload->data, len);
	if (n != (ssize_t)len) {
		str_error(err, errlen, "payload cut short (%zd of %u bytes)", n, len);
		return WEB_MSG_REFUSED;
	}
	buf_added(payload, len);
	return WEB_MSG_OK;
}

int web_msg_write(int fd, const struct buf *b)
{
	size_t done = 0;

	while (done < b->len) {
		ssize_t k = write(fd, b->data + done, b->len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

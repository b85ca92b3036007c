/* imap_bodystructure.c: BODY / BODYSTRUCTURE from a part tree (see imap_bodystructure.h). */
#include "imap/imap_bodystructure.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_envelope.h"
#include "imap/imap_header.h"
#include "imap/imap_quote.h"
#include "imap/imap_rfc822.h"
#include "lib/str.h"

#define PARAMS_MAX 64
#define LANGUAGES_MAX 32

/* What the Content-* fields of one part say. */
struct content {
	char *type, *subtype; /* NULL when no Content-Type */
	struct rfc822_param *params;
	size_t nparams;
	char *encoding;
	char *id, *description, *md5, *location;
	char *disposition;
	struct rfc822_param *dparams;
	size_t ndparams;
	char *languages[LANGUAGES_MAX];
	size_t nlanguages;
};

static void content_free(struct content *c)
{
	free(c->type);
	free(c->subtype);
	rfc822_params_free(c->params, c->nparams);
	free(c->encoding);
	free(c->id);
	free(c->description);
	free(c->md5);
	free(c->location);
	free(c->disposition);
	rfc822_params_free(c->dparams, c->ndparams);
	for (size_t i = 0; i < c->nlanguages; i++)
		free(c->languages[i]);
	memset(c, 0, sizeof(*c));
}

static void parse_type(struct content *c, const char *v)
{
	struct rfc822_parser ps;
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	rfc822_init(&ps, v, strlen(v), NULL);
	int rc = rfc822_skip_lwsp(&ps);
	if (rc > 0)
		rc = rfc822_parse_mime_token(&ps, &t);
	c->type = xstrdup(t.data);
	buf_reset(&t);
	if (rc > 0 && *ps.p == '/') {
		ps.p++;
		if (rfc822_skip_lwsp(&ps) > 0)
			rc = rfc822_parse_mime_token(&ps, &t);
	}
	c->subtype = xstrdup(t.data); /* "" when broken, never NULL with a type */
	if (rc >= 0 && c->subtype[0] != '\0')
		c->nparams = rfc822_parse_params(&ps, &c->params, PARAMS_MAX);
	buf_free(&t);
}

static char *token(const char *v)
{
	struct rfc822_parser ps;
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	rfc822_init(&ps, v, strlen(v), NULL);
	char *r = NULL;
	if (rfc822_skip_lwsp(&ps) > 0 && rfc822_parse_mime_token(&ps, &t) >= 0 && t.len > 0)
		r = xstrdup(t.data);
	buf_free(&t);
	return r;
}

static void parse_disposition(struct content *c, const char *v)
{
	struct rfc822_parser ps;
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	rfc822_init(&ps, v, strlen(v), NULL);
	if (rfc822_skip_lwsp(&ps) > 0 && rfc822_parse_mime_token(&ps, &t) >= 0 && t.len > 0) {
		c->disposition = xstrdup(t.data);
		c->ndparams = rfc822_parse_params(&ps, &c->dparams, PARAMS_MAX);
	}
	buf_free(&t);
}

/* RFC 3282: Content-Language = 1#Language-tag */
static void parse_language(struct content *c, const char *v)
{
	struct rfc822_parser ps;
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	rfc822_init(&ps, v, strlen(v), NULL);
	int rc = rfc822_skip_lwsp(&ps);
	while (rc > 0 && c->nlanguages < LANGUAGES_MAX) {
		buf_reset(&t);
		rc = rfc822_parse_atom(&ps, &t);
		if (rc < 0)
			break;
		c->languages[c->nlanguages++] = xstrdup(t.data);
		if (rc == 0 || *ps.p != ',')
			break;
		ps.p++;
		rc = rfc822_skip_lwsp(&ps);
	}
	buf_free(&t);
}

/* The first of each Content-* field counts. */
static void take(struct content *c, const struct imap_header_field *f, const char *v)
{
	if (imap_header_is(f, "Content-Type") && c->type == NULL)
		parse_type(c, v);
	else if (imap_header_is(f, "Content-Transfer-Encoding") && c->encoding == NULL)
		c->encoding = token(v);
	else if (imap_header_is(f, "Content-ID") && c->id == NULL)
		c->id = xstrdup(v);
	else if (imap_header_is(f, "Content-Description") && c->description == NULL)
		c->description = xstrdup(v);
	else if (imap_header_is(f, "Content-MD5") && c->md5 == NULL)
		c->md5 = xstrdup(v);
	else if (imap_header_is(f, "Content-Location") && c->location == NULL)
		c->location = xstrdup(v);
	else if (imap_header_is(f, "Content-Disposition") && c->disposition == NULL)
		parse_disposition(c, v);
	else if (imap_header_is(f, "Content-Language") && c->nlanguages == 0)
		parse_language(c, v);
}

static void content_read(struct content *c, const struct imap_part *part)
{
	memset(c, 0, sizeof(*c));
	if (!(part->flags & IMAP_PART_IS_MIME) || part->header == NULL)
		return; /* Content-* fields only apply to MIME (RFC 2045 4) */
	struct imap_header_iter it;
	struct imap_header_field f;
	struct buf v;
	buf_init(&v, BUF_UNLIMITED);
	imap_header_iter_init(&it, part->header, part->header_len);
	while (imap_header_next(&it, &f) == 1) {
		if (f.name_len < 8 || !str_ieqn(f.name, "Content-", 8))
			continue;
		buf_reset(&v);
		imap_header_unfold(f.value, f.value_len, &v);
		take(c, &f, v.data);
	}
	buf_free(&v);
}

static void params_write(struct buf *out, const struct rfc822_param *p, size_t n, bool default_charset)
{
	bool charset = false;
	if (n == 0 && !default_charset) {
		buf_put_str(out, "NIL");
		return;
	}
	buf_put_char(out, '(');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_put_char(out, ' ');
		charset |= str_ieq(p[i].name, "charset");
		imap_quote_nstring(out, p[i].name);
		buf_put_char(out, ' ');
		imap_quote_nstring(out, p[i].value);
	}
	if (default_charset && !charset) /* RFC 2045 5.2: text is US-ASCII by default */
		buf_put_str(out, n > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
	buf_put_char(out, ')');
}

/* disposition, language, location: the end of body-ext-1part and body-ext-mpart. */
static void ext_common(struct buf *out, const struct content *c)
{
	buf_put_char(out, ' ');
	if (c->disposition == NULL) {
		buf_put_str(out, "NIL");
	} else {
		buf_put_char(out, '(');
		imap_quote_nstring(out, c->disposition);
		buf_put_char(out, ' ');
		params_write(out, c->dparams, c->ndparams, false);
		buf_put_char(out, ')');
	}
	buf_put_char(out, ' ');
	if (c->nlanguages == 0) {
		buf_put_str(out, "NIL");
	} else {
		buf_put_char(out, '(');
		for (size_t i = 0; i < c->nlanguages; i++) {
			if (i > 0)
				buf_put_char(out, ' ');
			imap_quote_nstring(out, c->languages[i]);
		}
		buf_put_char(out, ')');
	}
	buf_put_char(out, ' ');
	imap_quote_nstring_nolf(out, c->location);
}

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"

static void write_part(struct buf *out, const struct imap_part *part, bool ext);

static void write_multipart(struct buf *out, const struct imap_part *part, const struct content *c, bool ext)
{
	if (part->children == NULL) /* body-type-mpart needs one part */
		buf_put_str(out, ext ? EMPTY_BODY " NIL NIL NIL NIL)" : EMPTY_BODY ")");
	for (const struct imap_part *ch = part->children; ch != NULL; ch = ch->next)
		write_part(out, ch, ext);
	buf_put_char(out, ' ');
	imap_quote_nstring(out, c->subtype != NULL ? c->subtype : "mixed");
	if (!ext)
		return;
	buf_put_char(out, ' ');
	params_write(out, c->params, c->nparams, false);
	ext_common(out, c);
}

/* A part whose Content-Type promised children it was not given (nesting limits). */
static bool not_entered(const struct imap_part *part, const struct content *c)
{
	if (c->type != NULL)
		return (str_ieq(c->type, "message") && str_ieq(c->subtype, "rfc822")) ||
		       str_ieq(c->type, "multipart");
	return part->parent != NULL && (part->parent->flags & IMAP_PART_DIGEST);
}

static void write_single(struct buf *out, const struct imap_part *part, const struct content *c, bool ext)
{
	bool text = false;
	if (part->flags & IMAP_PART_MESSAGE) {
		buf_put_str(out, "\"message\" \"rfc822\"");
	} else if (not_entered(part, c)) {
		buf_put_str(out, "\"application\" \"octet-stream\"");
	} else if (c->type == NULL) {
		text = true;
		buf_put_str(out, "\"text\" \"plain\"");
	} else {
		text = str_ieq(c->type, "text");
		imap_quote_nstring(out, c->type);
		buf_put_char(out, ' ');
		imap_quote_nstring(out, c->subtype);
	}
	buf_put_char(out, ' ');
	params_write(out, c->params, c->nparams, text);
	buf_put_char(out, ' ');
	imap_quote_nstring_nolf(out, c->id);
	buf_put_char(out, ' ');
	imap_quote_nstring_nolf(out, c->description);
	buf_put_char(out, ' ');
	imap_quote_nstring(out, c->encoding != NULL ? c->encoding : "7bit");
	buf_put_printf(out, " %llu", (unsigned long long)part->body_size);
	if (text) {
		buf_put_printf(out, " %u", part->body_lines);
	} else if ((part->flags & IMAP_PART_MESSAGE) && part->children != NULL) {
		const struct imap_part *msg = part->children;
		buf_put_char(out, ' ');
		imap_envelope_write(out, msg->header != NULL ? msg->header : "", msg->header_len);
		buf_put_char(out, ' ');
		write_part(out, msg, ext);
		buf_put_printf(out, " %u", part->body_lines);
	}
	if (!ext)
		return;
	buf_put_char(out, ' ');
	imap_quote_nstring_nolf(out, c->md5);
	ext_common(out, c);
}

static void write_part(struct buf *out, const struct imap_part *part, bool ext)
{
	struct content c;
	content_read(&c, part);
	buf_put_char(out, '(');
	if (part->flags & IMAP_PART_MULTIPART)
		write_multipart(out, part, &c, ext);
	else
		write_single(out, part, &c, ext);
	buf_put_char(out, ')');
	content_free(&c);
}

void imap_bodystructure_write(struct buf *out, const struct imap_part *part, bool extended)
{
	write_part(out, part, extended);
}

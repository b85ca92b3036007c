/* store_mime.c: ENVELOPE and BODYSTRUCTURE (RFC 9051 7.5.2), built once at delivery
 * from libetpan's parse (mailimf_* for the header fields, mailmime_parse for the MIME
 * tree) and stored as ready-to-send IMAP text.
 *
 * Strings are sent quoted when they are printable ASCII, as literals otherwise, so
 * that the result is valid IMAP4rev1 and IMAP4rev2 alike. Malformed MIME never fails:
 * the message is then described as one text/plain part. */
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "store/store_int.h"

#define MIME_DEPTH_MAX 40 /* deeper trees are described as text/plain */
#define QUOTED_MAX 1024   /* longer strings go as literals */

/* ---- strings ---- */

void store_imap_nstring(struct buf *b, const char *s, size_t n, bool nil_if_null)
{
	if (s == NULL) {
		buf_append_str(b, nil_if_null ? "NIL" : "\"\"");
		return;
	}
	bool quotable = n <= QUOTED_MAX;
	for (size_t i = 0; i < n && quotable; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			quotable = false;
	}
	if (!quotable) {
		buf_printf(b, "{%zu}\r\n", n);
		buf_append(b, s, n);
		return;
	}
	buf_append_char(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_char(b, '\\');
		buf_append_char(b, s[i]);
	}
	buf_append_char(b, '"');
}

static void nstr(struct buf *b, const char *s)
{
	store_imap_nstring(b, s, s != NULL ? strlen(s) : 0, true);
}

/* Upper-cased quoted token (types, subtypes, parameter names). */
static void ustr(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_append_str(b, "NIL");
		return;
	}
	char *u = xstrdup(s);
	for (char *p = u; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	nstr(b, u);
	free(u);
}

/* Header value without the folding CRLFs and surrounding blanks (RFC 5322 2.2.3). */
static char *unfold(const char *v)
{
	size_t n = strlen(v), k = 0;
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '\r' && v[i] != '\n')
			out[k++] = v[i];
	}
	while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t'))
		k--;
	out[k] = '\0';
	size_t lead = strspn(out, " \t");
	memmove(out, out + lead, k - lead + 1);
	return out;
}

/* ---- header block ---- */

size_t store_header_end(const char *data, size_t len)
{
	size_t idx = 0;
	while (idx < len && mailimf_ignore_field_parse(data, len, &idx) == MAILIMF_NO_ERROR)
		;
	size_t end = idx;
	if (mailimf_crlf_parse(data, len, &end) == MAILIMF_NO_ERROR)
		return end;
	/* No blank line where the fields stop: a header-only message, or a line that is
	 * not a field. Everything before that line is the header. */
	return idx;
}

/* The first raw (unparsed) value of field name, unfolded; NULL when absent. */
static char *raw_field(struct mailimf_fields *raw, const char *name)
{
	if (raw == NULL)
		return NULL;
	for (clistiter *c = clist_begin(raw->fld_list); c != NULL; c = clist_next(c)) {
		struct mailimf_field *f = clist_content(c);
		if (f->fld_type != MAILIMF_FIELD_OPTIONAL_FIELD)
			continue;
		struct mailimf_optional_field *o = f->fld_data.fld_optional_field;
		if (o->fld_name != NULL && o->fld_value != NULL && str_ieq(o->fld_name, name))
			return unfold(o->fld_value);
	}
	return NULL;
}

static void raw_nstr(struct buf *b, struct mailimf_fields *raw, const char *name)
{
	char *v = raw_field(raw, name);
	nstr(b, v);
	free(v);
}

/* ---- addresses ---- */

static void env_mailbox(struct buf *b, const struct mailimf_mailbox *mb)
{
	const char *spec = mb->mb_addr_spec != NULL ? mb->mb_addr_spec : "";
	const char *at = strrchr(spec, '@');
	buf_append_char(b, '(');
	nstr(b, mb->mb_display_name);
	buf_append_str(b, " NIL ");
	if (at != NULL) {
		store_imap_nstring(b, spec, (size_t)(at - spec), true);
		buf_append_char(b, ' ');
		nstr(b, at + 1);
	} else {
		nstr(b, spec);
		buf_append_str(b, " \"\"");
	}
	buf_append_char(b, ')');
}

static void env_mailbox_list(struct buf *b, const struct mailimf_mailbox_list *l)
{
	if (l == NULL || l->mb_list == NULL)
		return;
	for (clistiter *c = clist_begin(l->mb_list); c != NULL; c = clist_next(c))
		env_mailbox(b, clist_content(c));
}

/* RFC 9051 7.5.2: a group is (NIL NIL "name" NIL) members (NIL NIL NIL NIL). */
static void env_address(struct buf *b, const struct mailimf_address *a)
{
	if (a->ad_type == MAILIMF_ADDRESS_MAILBOX && a->ad_data.ad_mailbox != NULL) {
		env_mailbox(b, a->ad_data.ad_mailbox);
	} else if (a->ad_type == MAILIMF_ADDRESS_GROUP && a->ad_data.ad_group != NULL) {
		buf_append_str(b, "(NIL NIL ");
		nstr(b, a->ad_data.ad_group->grp_display_name);
		buf_append_str(b, " NIL)");
		env_mailbox_list(b, a->ad_data.ad_group->grp_mb_list);
		buf_append_str(b, "(NIL NIL NIL NIL)");
	}
}

static void env_address_list(struct buf *b, const struct mailimf_address_list *l)
{
	if (l == NULL || l->ad_list == NULL || clist_isempty(l->ad_list)) {
		buf_append_str(b, "NIL");
		return;
	}
	buf_append_char(b, '(');
	for (clistiter *c = clist_begin(l->ad_list); c != NULL; c = clist_next(c))
		env_address(b, clist_content(c));
	buf_append_char(b, ')');
}

static void env_from(struct buf *b, const struct mailimf_from *f)
{
	if (f == NULL || f->frm_mb_list == NULL || clist_isempty(f->frm_mb_list->mb_list)) {
		buf_append_str(b, "NIL");
		return;
	}
	buf_append_char(b, '(');
	env_mailbox_list(b, f->frm_mb_list);
	buf_append_char(b, ')');
}

static void env_sender(struct buf *b, const struct mailimf_sender *s, const struct mailimf_from *from)
{
	if (s == NULL || s->snd_mb == NULL) {
		env_from(b, from); /* absent Sender defaults to From */
		return;
	}
	buf_append_char(b, '(');
	env_mailbox(b, s->snd_mb);
	buf_append_char(b, ')');
}

static int64_t date_to_unix(const struct mailimf_date_time *d)
{
	struct tm tm = {0};
	if (d == NULL || d->dt_year < 1900 || d->dt_month < 1 || d->dt_month > 12)
		return 0;
	tm.tm_year = d->dt_year - 1900;
	tm.tm_mon = d->dt_month - 1;
	tm.tm_mday = d->dt_day;
	tm.tm_hour = d->dt_hour;
	tm.tm_min = d->dt_min;
	tm.tm_sec = d->dt_sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	int z = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t off = (int64_t)(z / 100) * 3600 + (int64_t)(z % 100) * 60;
	return (int64_t)t - (d->dt_zone < 0 ? -off : off);
}

/* ENVELOPE of the message in data[0..len) (its header block only). */
static void envelope_build(struct buf *b, const char *data, size_t len, int64_t *sent_date)
{
	size_t hlen = store_header_end(data, len);
	struct mailimf_fields *raw = NULL, *parsed = NULL;
	struct mailimf_single_fields sf;
	size_t idx = 0;
	if (mailimf_optional_fields_parse(data, hlen, &idx, &raw) != MAILIMF_NO_ERROR)
		raw = NULL;
	idx = 0;
	if (mailimf_fields_parse(data, hlen, &idx, &parsed) != MAILIMF_NO_ERROR)
		parsed = NULL;
	memset(&sf, 0, sizeof(sf));
	if (parsed != NULL)
		mailimf_single_fields_init(&sf, parsed);
	if (sent_date != NULL)
		*sent_date = sf.fld_orig_date != NULL ? date_to_unix(sf.fld_orig_date->dt_date_time) : 0;

	buf_append_char(b, '(');
	raw_nstr(b, raw, "Date");
	buf_append_char(b, ' ');
	raw_nstr(b, raw, "Subject");
	buf_append_char(b, ' ');
	env_from(b, sf.fld_from);
	buf_append_char(b, ' ');
	env_sender(b, sf.fld_sender, sf.fld_from);
	buf_append_char(b, ' ');
	if (sf.fld_reply_to != NULL)
		env_address_list(b, sf.fld_reply_to->rt_addr_list);
	else
		env_from(b, sf.fld_from); /* absent Reply-To defaults to From */
	buf_append_char(b, ' ');
	env_address_list(b, sf.fld_to != NULL ? sf.fld_to->to_addr_list : NULL);
	buf_append_char(b, ' ');
	env_address_list(b, sf.fld_cc != NULL ? sf.fld_cc->cc_addr_list : NULL);
	buf_append_char(b, ' ');
	env_address_list(b, sf.fld_bcc != NULL ? sf.fld_bcc->bcc_addr_list : NULL);
	buf_append_char(b, ' ');
	raw_nstr(b, raw, "In-Reply-To");
	buf_append_char(b, ' ');
	raw_nstr(b, raw, "Message-ID");
	buf_append_char(b, ')');
	if (raw != NULL)
		mailimf_fields_free(raw);
	if (parsed != NULL)
		mailimf_fields_free(parsed);
}

/* ---- body structure ---- */

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			lines++;
	}
	if (n > 0 && p[n - 1] != '\n')
		lines++;
	return lines;
}

static void body_range(const struct mailmime *m, const char **p, size_t *n)
{
	*p = "";
	*n = 0;
	if (m->mm_body != NULL && m->mm_body->dt_type == MAILMIME_DATA_TEXT &&
	    m->mm_body->dt_data.dt_text.dt_data) {
		*p = m->mm_body->dt_data.dt_text.dt_data;
		*n = m->mm_body->dt_data.dt_text.dt_length;
	}
}

static const char *discrete_name(const struct mailmime_discrete_type *d)
{
	switch (d->dt_type) {
	case MAILMIME_DISCRETE_TYPE_TEXT:
		return "TEXT";
	case MAILMIME_DISCRETE_TYPE_IMAGE:
		return "IMAGE";
	case MAILMIME_DISCRETE_TYPE_AUDIO:
		return "AUDIO";
	case MAILMIME_DISCRETE_TYPE_VIDEO:
		return "VIDEO";
	case MAILMIME_DISCRETE_TYPE_APPLICATION:
		return "APPLICATION";
	default:
		return d->dt_extension != NULL ? d->dt_extension : "APPLICATION";
	}
}

static const char *type_name(const struct mailmime_content *ct)
{
	if (ct == NULL || ct->ct_type == NULL)
		return "TEXT";
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	    ct->ct_type->tp_data.tp_discrete_type != NULL)
		return discrete_name(ct->ct_type->tp_data.tp_discrete_type);
	const struct mailmime_composite_type *c = ct->ct_type->tp_data.tp_composite_type;
	if (c == NULL)
		return "TEXT";
	if (c->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE)
		return "MESSAGE";
	if (c->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART)
		return "MULTIPART";
	return c->ct_token != NULL ? c->ct_token : "APPLICATION";
}

static void param_list(struct buf *b, clist *params, bool default_charset)
{
	if ((params == NULL || clist_isempty(params)) && !default_charset) {
		buf_append_str(b, "NIL");
		return;
	}
	buf_append_char(b, '(');
	if (default_charset)
		buf_append_str(b, "\"CHARSET\" \"US-ASCII\"");
	bool first = !default_charset;
	for (clistiter *c = params != NULL ? clist_begin(params) : NULL; c != NULL; c = clist_next(c)) {
		struct mailmime_parameter *p = clist_content(c);
		if (!first)
			buf_append_char(b, ' ');
		first = false;
		ustr(b, p->pa_name);
		buf_append_char(b, ' ');
		nstr(b, p->pa_value != NULL ? p->pa_value : "");
	}
	buf_append_char(b, ')');
}

static struct mailmime_field *mime_field(const struct mailmime *m, int type)
{
	if (m->mm_mime_fields == NULL || m->mm_mime_fields->fld_list == NULL)
		return NULL;
	for (clistiter *c = clist_begin(m->mm_mime_fields->fld_list); c != NULL; c = clist_next(c)) {
		struct mailmime_field *f = clist_content(c);
		if (f->fld_type == type)
			return f;
	}
	return NULL;
}

static void field_id(struct buf *b, const struct mailmime *m)
{
	struct mailmime_field *f = mime_field(m, MAILMIME_FIELD_ID);
	if (f == NULL || f->fld_data.fld_id == NULL) {
		buf_append_str(b, "NIL");
		return;
	}
	char *id = NULL;
	size_t n = strlen(f->fld_data.fld_id) + 3;
	id = xmalloc(n);
	str_format(id, n, "<%s>", f->fld_data.fld_id); /* libetpan strips the brackets */
	nstr(b, id);
	free(id);
}

static void field_encoding(struct buf *b, const struct mailmime *m)
{
	struct mailmime_field *f = mime_field(m, MAILMIME_FIELD_TRANSFER_ENCODING);
	const char *e = "7BIT";
	if (f != NULL && f->fld_data.fld_encoding != NULL) {
		switch (f->fld_data.fld_encoding->enc_type) {
		case MAILMIME_MECHANISM_8BIT:
			e = "8BIT";
			break;
		case MAILMIME_MECHANISM_BINARY:
			e = "BINARY";
			break;
		case MAILMIME_MECHANISM_QUOTED_PRINTABLE:
			e = "QUOTED-PRINTABLE";
			break;
		case MAILMIME_MECHANISM_BASE64:
			e = "BASE64";
			break;
		case MAILMIME_MECHANISM_TOKEN:
			if (f->fld_data.fld_encoding->enc_token != NULL)
				e = f->fld_data.fld_encoding->enc_token;
			break;
		default:
			break;
		}
	}
	ustr(b, e);
}

static void field_simple(struct buf *b, const struct mailmime *m, int type)
{
	struct mailmime_field *f = mime_field(m, type);
	const char *v = NULL;
	if (f != NULL && type == MAILMIME_FIELD_DESCRIPTION)
		v = f->fld_data.fld_description;
	if (f != NULL && type == MAILMIME_FIELD_LOCATION)
		v = f->fld_data.fld_location;
	char *u = v != NULL ? unfold(v) : NULL;
	nstr(b, u);
	free(u);
}

static void disposition_param(struct buf *b, const struct mailmime_disposition_parm *p)
{
	char size[32];
	switch (p->pa_type) {
	case MAILMIME_DISPOSITION_PARM_FILENAME:
		buf_append_str(b, "\"FILENAME\" ");
		nstr(b, p->pa_data.pa_filename);
		break;
	case MAILMIME_DISPOSITION_PARM_CREATION_DATE:
		buf_append_str(b, "\"CREATION-DATE\" ");
		nstr(b, p->pa_data.pa_creation_date);
		break;
	case MAILMIME_DISPOSITION_PARM_MODIFICATION_DATE:
		buf_append_str(b, "\"MODIFICATION-DATE\" ");
		nstr(b, p->pa_data.pa_modification_date);
		break;
	case MAILMIME_DISPOSITION_PARM_READ_DATE:
		buf_append_str(b, "\"READ-DATE\" ");
		nstr(b, p->pa_data.pa_read_date);
		break;
	case MAILMIME_DISPOSITION_PARM_SIZE:
		str_format(size, sizeof(size), "%zu", p->pa_data.pa_size);
		buf_append_str(b, "\"SIZE\" ");
		nstr(b, size);
		break;
	default:
		ustr(b, p->pa_data.pa_parameter != NULL ? p->pa_data.pa_parameter->pa_name : "X");
		buf_append_char(b, ' ');
		nstr(b, p->pa_data.pa_parameter != NULL && p->pa_data.pa_parameter->pa_value != NULL
		            ? p->pa_data.pa_parameter->pa_value
		            : "");
	}
}

static void field_disposition(struct buf *b, const struct mailmime *m)
{
	struct mailmime_field *f = mime_field(m, MAILMIME_FIELD_DISPOSITION);
	struct mailmime_disposition *d = f != NULL ? f->fld_data.fld_disposition : NULL;
	if (d == NULL || d->dsp_type == NULL) {
		buf_append_str(b, "NIL");
		return;
	}
	buf_append_char(b, '(');
	if (d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_INLINE)
		buf_append_str(b, "\"INLINE\"");
	else if (d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT)
		buf_append_str(b, "\"ATTACHMENT\"");
	else
		ustr(b, d->dsp_type->dsp_extension != NULL ? d->dsp_type->dsp_extension : "ATTACHMENT");
	if (d->dsp_parms == NULL || clist_isempty(d->dsp_parms)) {
		buf_append_str(b, " NIL)");
		return;
	}
	buf_append_str(b, " (");
	bool first = true;
	for (clistiter *c = clist_begin(d->dsp_parms); c != NULL; c = clist_next(c)) {
		if (!first)
			buf_append_char(b, ' ');
		first = false;
		disposition_param(b, clist_content(c));
	}
	buf_append_str(b, "))");
}

/* The raw value of one field of a part's own header block, unfolded; NULL if absent. */
static char *part_raw_field(const struct mailmime *m, const char *name)
{
	const char *body;
	size_t n;
	body_range(m, &body, &n);
	if (m->mm_mime_start == NULL || n == 0 || body < m->mm_mime_start)
		return NULL;
	struct mailimf_fields *raw = NULL;
	size_t idx = 0;
	if (mailimf_optional_fields_parse(m->mm_mime_start, (size_t)(body - m->mm_mime_start), &idx, &raw) !=
	    MAILIMF_NO_ERROR)
		return NULL;
	char *v = raw_field(raw, name);
	mailimf_fields_free(raw);
	return v;
}

/* libetpan 1.9 recognises Content-Language but leaves its list empty, so the tags
 * are taken from the field's raw value (RFC 3282: comma separated). */
static void language_raw(struct buf *b, const struct mailmime *m)
{
	char *v = part_raw_field(m, "Content-Language");
	if (v == NULL || v[0] == '\0') {
		buf_append_str(b, "NIL");
		free(v);
		return;
	}
	buf_append_char(b, '(');
	bool first = true;
	char *save = NULL;
	for (char *tok = strtok_r(v, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (!first)
			buf_append_char(b, ' ');
		first = false;
		nstr(b, tok);
	}
	buf_append_char(b, ')');
	free(v);
}

static void field_language(struct buf *b, const struct mailmime *m)
{
	struct mailmime_field *f = mime_field(m, MAILMIME_FIELD_LANGUAGE);
	struct mailmime_language *l = f != NULL ? f->fld_data.fld_language : NULL;
	if (f == NULL) {
		buf_append_str(b, "NIL");
		return;
	}
	if (l == NULL || l->lg_list == NULL || clist_isempty(l->lg_list)) {
		language_raw(b, m);
		return;
	}
	buf_append_char(b, '(');
	bool first = true;
	for (clistiter *c = clist_begin(l->lg_list); c != NULL; c = clist_next(c)) {
		if (!first)
			buf_append_char(b, ' ');
		first = false;
		nstr(b, clist_content(c));
	}
	buf_append_char(b, ')');
}

/* body-ext-1part / body-ext-mpart tail: disposition, language, location. */
static void ext_tail(struct buf *b, const struct mailmime *m)
{
	buf_append_char(b, ' ');
	field_disposition(b, m);
	buf_append_char(b, ' ');
	field_language(b, m);
	buf_append_char(b, ' ');
	field_simple(b, m, MAILMIME_FIELD_LOCATION);
}

static void fields_basic(struct buf *b, const struct mailmime *m, size_t size)
{
	buf_append_char(b, ' ');
	field_id(b, m);
	buf_append_char(b, ' ');
	field_simple(b, m, MAILMIME_FIELD_DESCRIPTION);
	buf_append_char(b, ' ');
	field_encoding(b, m);
	buf_printf(b, " %zu", size);
}

static void structure(struct buf *b, const struct mailmime *m, bool ext, int depth);

/* The description of a message body that libetpan could not structure. */
static void plain_fallback(struct buf *b, const char *body, size_t n, bool ext)
{
	buf_printf(b, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" %zu %zu", n,
	           count_lines(body, n));
	if (ext)
		buf_append_str(b, " NIL NIL NIL NIL");
	buf_append_char(b, ')');
}

static bool has_param(const struct mailmime_content *ct, const char *name)
{
	if (ct == NULL || ct->ct_parameters == NULL)
		return false;
	for (clistiter *c = clist_begin(ct->ct_parameters); c != NULL; c = clist_next(c)) {
		struct mailmime_parameter *p = clist_content(c);
		if (p->pa_name != NULL && str_ieq(p->pa_name, name))
			return true;
	}
	return false;
}

static void structure_single(struct buf *b, const struct mailmime *m, bool ext)
{
	const char *body;
	size_t n;
	const struct mailmime_content *ct = m->mm_content_type;
	body_range(m, &body, &n);
	const char *type = type_name(ct);
	buf_append_char(b, '(');
	ustr(b, type);
	buf_append_char(b, ' ');
	ustr(b, ct != NULL && ct->ct_subtype != NULL ? ct->ct_subtype : "PLAIN");
	buf_append_char(b, ' ');
	/* RFC 2045 5.2: a text part without charset is US-ASCII; say so, as Dovecot does. */
	bool no_charset = str_ieq(type, "TEXT") && !has_param(ct, "charset");
	param_list(b, ct != NULL ? ct->ct_parameters : NULL, no_charset);
	fields_basic(b, m, n);
	if (str_ieq(type, "TEXT"))
		buf_printf(b, " %zu", count_lines(body, n));
	if (ext) {
		buf_append_str(b, " NIL"); /* Content-MD5: not provided */
		ext_tail(b, m);
	}
	buf_append_char(b, ')');
}

/* message/rfc822 part: its own fields, then the embedded message's ENVELOPE,
 * BODYSTRUCTURE and line count. */
static void structure_message(struct buf *b, const struct mailmime *m, bool ext, int depth)
{
	const char *body;
	size_t n;
	const struct mailmime_content *ct = m->mm_content_type;
	body_range(m, &body, &n);
	buf_append_str(b, "(\"MESSAGE\" ");
	ustr(b, ct != NULL && ct->ct_subtype != NULL ? ct->ct_subtype : "RFC822");
	buf_append_char(b, ' ');
	param_list(b, ct != NULL ? ct->ct_parameters : NULL, false);
	fields_basic(b, m, n);
	buf_append_char(b, ' ');
	envelope_build(b, body, n, NULL);
	buf_append_char(b, ' ');
	const struct mailmime *inner = m->mm_data.mm_message.mm_msg_mime;
	if (inner != NULL) {
		structure(b, inner, ext, depth + 1);
	} else {
		size_t h = store_header_end(body, n);
		plain_fallback(b, body + h, n - h, ext);
	}
	buf_printf(b, " %zu", count_lines(body, n));
	if (ext) {
		buf_append_str(b, " NIL");
		ext_tail(b, m);
	}
	buf_append_char(b, ')');
}

static void structure_multi(struct buf *b, const struct mailmime *m, bool ext, int depth)
{
	const struct mailmime_content *ct = m->mm_content_type;
	clist *parts = m->mm_data.mm_multipart.mm_mp_list;
	buf_append_char(b, '(');
	if (parts == NULL || clist_isempty(parts))
		plain_fallback(b, "", 0, ext); /* body-type-mpart needs one part */
	for (clistiter *c = parts != NULL ? clist_begin(parts) : NULL; c != NULL; c = clist_next(c))
		structure(b, clist_content(c), ext, depth + 1);
	buf_append_char(b, ' ');
	ustr(b, ct != NULL && ct->ct_subtype != NULL ? ct->ct_subtype : "MIXED");
	if (ext) {
		buf_append_char(b, ' ');
		param_list(b, ct != NULL ? ct->ct_parameters : NULL, false);
		ext_tail(b, m);
	}
	buf_append_char(b, ')');
}

static void structure(struct buf *b, const struct mailmime *m, bool ext, int depth)
{
	if (depth > MIME_DEPTH_MAX) {
		const char *body;
		size_t n;
		body_range(m, &body, &n);
		plain_fallback(b, body, n, ext);
		return;
	}
	switch (m->mm_type) {
	case MAILMIME_MULTIPLE:
		structure_multi(b, m, ext, depth);
		break;
	case MAILMIME_MESSAGE:
		if (m->mm_parent == NULL && m->mm_data.mm_message.mm_msg_mime != NULL)
			structure(b, m->mm_data.mm_message.mm_msg_mime, ext, depth + 1);
		else
			structure_message(b, m, ext, depth);
		break;
	default:
		structure_single(b, m, ext);
	}
}

/* tree: the caller's parse of data (not freed here), NULL to parse it now. */
static void build_structures(const char *data, size_t len, size_t hlen, struct mailmime *tree,
                             struct store_mime_info *out)
{
	struct buf bs, body;
	struct mailmime *mime = tree;
	size_t idx = 0;
	buf_init(&bs, BUF_UNLIMITED);
	buf_init(&body, BUF_UNLIMITED);
	if (tree == NULL && mailmime_parse(data, len, &idx, &mime) != MAILIMF_NO_ERROR)
		mime = NULL;
	if (mime != NULL &&
	    (mime->mm_type != MAILMIME_MESSAGE || mime->mm_data.mm_message.mm_msg_mime != NULL)) {
		structure(&bs, mime, true, 0);
		structure(&body, mime, false, 0);
	} else {
		plain_fallback(&bs, data + hlen, len - hlen, true);
		plain_fallback(&body, data + hlen, len - hlen, false);
	}
	if (mime != NULL && tree == NULL)
		mailmime_free(mime);
	out->bodystructure = buf_strdup(&bs);
	out->body = buf_strdup(&body);
	buf_free(&bs);
	buf_free(&body);
}

int store_mime_build(const char *data, size_t len, struct store_mime_info *out)
{
	return store_mime_build_parsed(data, len, NULL, out);
}

int store_mime_build_parsed(const char *data, size_t len, const struct msg *parsed,
                            struct store_mime_info *out)
{
	struct buf env;
	memset(out, 0, sizeof(*out));
	if (data == NULL)
		data = "";
	out->header_size = store_header_end(data, len);
	buf_init(&env, BUF_UNLIMITED);
	envelope_build(&env, data, len, &out->sent_date);
	out->envelope = buf_strdup(&env);
	buf_free(&env);
	build_structures(data, len, (size_t)out->header_size,
	                 parsed != NULL && parsed->data == data && parsed->len == len ? parsed->tree : NULL,
	                 out);
	return 0;
}

void store_mime_info_free(struct store_mime_info *mi)
{
	free(mi->envelope);
	free(mi->bodystructure);
	free(mi->body);
	memset(mi, 0, sizeof(*mi));
}

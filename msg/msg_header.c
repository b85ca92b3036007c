/* msg_header.c: the top-level header fields a delivery reads (see msg.h), taken from
 * libetpan's parse of the header (mailimf_fields). */
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"
#include "msg/msg_int.h"

void msg_decode_words(const char *in, char *out, size_t outlen)
{
	size_t idx = 0;
	char *res = NULL;
	const char *v = in;
	if (strstr(in, "=?") &&
	    mailmime_encoded_phrase_parse("iso-8859-1", in, strlen(in), &idx, "utf-8", &res) ==
	        MAILIMF_NO_ERROR &&
	    res)
		v = res;
	size_t o = 0;
	for (; *v && o + 1 < outlen; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '\r' || c == '\n')
			continue; /* folding */
		out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	if (outlen > 0)
		out[o] = '\0';
	free(res);
}

size_t msg_header_size(const char *data, size_t len)
{
	if (len > 0 && data[0] == '\n')
		return 1;
	if (len > 1 && data[0] == '\r' && data[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* The length of the field name that starts the line at p (up to end), 0 for a
 * continuation line: a field name ends at ':' or a blank. */
static size_t field_name_len(const char *p, const char *end)
{
	size_t k = 0;

	while (p + k < end && p[k] != ':' && p[k] != ' ' && p[k] != '\t')
		k++;
	return k;
}

static bool is_field(const char *p, size_t k, const char *name)
{
	return k == strlen(name) && str_ieqn(p, name, k);
}

unsigned msg_author_fields(const char *data, size_t header_size)
{
	unsigned count = 0;
	for (size_t i = 0; i < header_size;) {
		size_t end = i;
		while (end < header_size && data[end] != '\n')
			end++;
		size_t k = field_name_len(data + i, data + end);
		if (is_field(data + i, k, "From") || is_field(data + i, k, "Sender"))
			count++;
		i = end + 1;
	}
	return count;
}

/* Appends the line p[0, n) to out: CR and LF left out, parentheses as spaces. */
static void put_unfolded(struct buf *out, const char *p, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		char c = p[j];
		if (c != '\r' && c != '\n')
			buf_put_char(out, c == '(' || c == ')' ? ' ' : c);
	}
}

/* Characters a reader shows much as '@' or '.', in UTF-8: an address written with them
 * ("dr.durand＠pro...") reads as one. Each is longer than its ASCII form. */
static const struct {
	const char *utf8;
	char ascii;
} lookalikes[] = {
    {"\xef\xbc\xa0", '@'}, /* U+FF20 FULLWIDTH COMMERCIAL AT */
    {"\xef\xb9\xab", '@'}, /* U+FE6B SMALL COMMERCIAL AT */
    {"\xef\xbc\x8e", '.'}, /* U+FF0E FULLWIDTH FULL STOP */
    {"\xe3\x80\x82", '.'}, /* U+3002 IDEOGRAPHIC FULL STOP */
    {"\xef\xbd\xa1", '.'}, /* U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP */
    {"\xef\xb9\x92", '.'}, /* U+FE52 SMALL FULL STOP */
    {"\xe2\x80\xa4", '.'}, /* U+2024 ONE DOT LEADER */
};

/* Rewrites s in place with each lookalike as its ASCII form (never longer). */
static void ascii_lookalikes(char *s)
{
	char *w = s;
	for (const char *r = s; *r != '\0';) {
		size_t i = 0, n = sizeof(lookalikes) / sizeof(lookalikes[0]);
		while (i < n && strncmp(r, lookalikes[i].utf8, strlen(lookalikes[i].utf8)) != 0)
			i++;
		if (i < n) {
			*w++ = lookalikes[i].ascii;
			r += strlen(lookalikes[i].utf8);
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

char *msg_field_text(const char *data, size_t header_size, const char *name)
{
	struct buf raw;
	bool in_field = false;

	buf_init(&raw, BUF_UNLIMITED);
	for (size_t i = 0; i < header_size;) {
		size_t end = i;
		while (end < header_size && data[end] != '\n')
			end++;
		size_t k = field_name_len(data + i, data + end);
		if (k > 0) { /* a field starts: its value begins after its colon */
			in_field = is_field(data + i, k, name);
			const char *colon = memchr(data + i, ':', end - i);
			size_t from = colon != NULL ? (size_t)(colon - data) + 1 : i + k;
			if (in_field) {
				buf_put_char(&raw, ' ');
				put_unfolded(&raw, data + from, end - from);
			}
		} else if (in_field) {
			put_unfolded(&raw, data + i, end - i);
		}
		i = end + 1;
	}
	/* decoding never more than doubles the text (ISO-8859-1 to UTF-8 at most) */
	size_t outlen = 2 * raw.len + 1;
	char *out = xmalloc(outlen);
	msg_decode_words(raw.len > 0 ? raw.data : "", out, outlen);
	buf_free(&raw);
	ascii_lookalikes(out); /* after decoding: an encoded word may carry them too */
	return out;
}

static bool list_unreadable(const struct msg_address_list *l)
{
	if (l->total > l->n)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].addr[0])
			return true;
	return false;
}

void msg_header_check_authors(const char *data, struct msg_header *h)
{
	h->authors_unreadable = list_unreadable(&h->from) || list_unreadable(&h->sender) ||
	                        msg_author_fields(data, h->size) != h->from_fields + h->sender_fields;
}

static void add_mailbox(struct msg_address_list *l, const struct mailimf_mailbox *mb)
{
	l->total++;
	if (!mb || l->n >= MSG_ADDRESSES_MAX)
		return;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	struct msg_address *a = &l->v[l->n++];
	memset(a, 0, sizeof *a);
	if (!mb->mb_addr_spec || str_copy(a->addr, sizeof a->addr, mb->mb_addr_spec) != 0)
		a->addr[0] = '\0'; /* too long to be an address: kept as unreadable */
	if (mb->mb_display_name)
		msg_decode_words(mb->mb_display_name, a->name, sizeof a->name);
}

static void add_mailbox_list(struct msg_address_list *l, const struct mailimf_mailbox_list *ml)
{
	if (!ml || !ml->mb_list)
		return;
	for (clistiter *it = clist_begin(ml->mb_list); it; it = clist_next(it))
		add_mailbox(l, clist_content(it));
}

static void add_address_list(struct msg_address_list *l, const struct mailimf_address_list *al)
{
	if (!al || !al->ad_list)
		return;
	for (clistiter *it = clist_begin(al->ad_list); it; it = clist_next(it)) {
		const struct mailimf_address *a = clist_content(it);
		if (!a)
			continue;
		if (a->ad_type == MAILIMF_ADDRESS_MAILBOX)
			add_mailbox(l, a->ad_data.ad_mailbox);
		else if (a->ad_type == MAILIMF_ADDRESS_GROUP && a->ad_data.ad_group)
			add_mailbox_list(l, a->ad_data.ad_group->grp_mb_list);
	}
}

/* RFC 5322 3.3: the zone is +hhmm as an integer (e.g. 100 for +0100). */
static int64_t date_of(const struct mailimf_date_time *d)
{
	if (!d || d->dt_month < 1 || d->dt_month > 12 || d->dt_day < 1 || d->dt_day > 31 ||
	    d->dt_year < 1970 || d->dt_year > 9999 || d->dt_hour > 23 || d->dt_min > 59 || d->dt_sec > 60)
		return 0;
	struct tm tm = {.tm_year = d->dt_year - 1900,
	                .tm_mon = d->dt_month - 1,
	                .tm_mday = d->dt_day,
	                .tm_hour = d->dt_hour,
	                .tm_min = d->dt_min,
	                .tm_sec = d->dt_sec};
	int zone = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t off = (int64_t)(zone / 100) * 3600 + (int64_t)(zone % 100) * 60;
	int64_t t = (int64_t)timegm(&tm) - (d->dt_zone < 0 ? -off : off);
	return t > 0 ? t : 0;
}

/* A value without its folding and surrounding blanks (RFC 5322 2.2.3). Returns false
 * when it did not fit (out then holds its beginning). */
static bool unfolded(const char *v, char *out, size_t outlen)
{
	size_t o = 0;
	for (; v && *v && o + 1 < outlen; v++)
		if (*v != '\r' && *v != '\n')
			out[o++] = *v;
	out[o] = '\0';
	str_trim(out);
	return !v || *v == '\0';
}

static void optional_field(const struct mailimf_optional_field *o, struct msg_header *h)
{
	char v[256];
	if (!o || !o->fld_name)
		return;
	unfolded(o->fld_value, v, sizeof v);
	/* a value that does not fit is not kept: a cut value would be another one */
	if (str_ieq(o->fld_name, "X-MSS-INS") && str_copy(h->x_mss_ins, sizeof h->x_mss_ins, v) != 0)
		h->x_mss_ins[0] = '\0';
	else if (str_ieq(o->fld_name, "X-MSS-CODECDA") &&
	         str_copy(h->x_mss_codecda, sizeof h->x_mss_codecda, v) != 0)
		h->x_mss_codecda[0] = '\0';
	else if (str_ieq(o->fld_name, "X-MSS-MES") && str_ieq(v, "FIN"))
		h->fin = true;
}

static void subject_field(const struct mailimf_subject *s, struct msg_header *h)
{
	if (!s || !s->sbj_value || h->raw_subject[0])
		return; /* the first Subject counts */
	h->subject_cut = !unfolded(s->sbj_value, h->raw_subject, sizeof h->raw_subject);
	msg_decode_words(h->raw_subject, h->subject, sizeof h->subject);
	/* "[FIN]" exactly, case-sensitive (REFERENCE.md "Ending an exchange") */
	if (strcmp(h->raw_subject, "[FIN]") == 0)
		h->fin = true;
}

static void one_field(const struct mailimf_field *f, struct msg_header *h)
{
	switch (f->fld_type) {
	case MAILIMF_FIELD_FROM:
		h->from_fields++;
		if (f->fld_data.fld_from)
			add_mailbox_list(&h->from, f->fld_data.fld_from->frm_mb_list);
		break;
	case MAILIMF_FIELD_SENDER:
		h->sender_fields++;
		if (f->fld_data.fld_sender)
			add_mailbox(&h->sender, f->fld_data.fld_sender->snd_mb);
		break;
	case MAILIMF_FIELD_REPLY_TO:
		if (f->fld_data.fld_reply_to)
			add_address_list(&h->reply_to, f->fld_data.fld_reply_to->rt_addr_list);
		break;
	case MAILIMF_FIELD_SUBJECT:
		subject_field(f->fld_data.fld_subject, h);
		break;
	case MAILIMF_FIELD_MESSAGE_ID:
		if (f->fld_data.fld_message_id && f->fld_data.fld_message_id->mid_value &&
		    !h->message_id[0] &&
		    str_copy(h->message_id, sizeof h->message_id, f->fld_data.fld_message_id->mid_value) != 0)
			h->message_id[0] = '\0'; /* longer than any we use: as if absent */
		break;
	case MAILIMF_FIELD_ORIG_DATE:
		if (f->fld_data.fld_orig_date && !h->date)
			h->date = date_of(f->fld_data.fld_orig_date->dt_date_time);
		break;
	case MAILIMF_FIELD_OPTIONAL_FIELD:
		optional_field(f->fld_data.fld_optional_field, h);
		break;
	default:
		break;
	}
}

void msg_header_read(const struct mailimf_fields *f, struct msg_header *h)
{
	if (!f || !f->fld_list)
		return;
	for (clistiter *it = clist_begin(f->fld_list); it; it = clist_next(it)) {
		const struct mailimf_field *fld = clist_content(it);
		if (fld)
			one_field(fld, h);
	}
}

bool msg_mime_type_valid(const char *s)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?=";
	const char *slash = strchr(s, '/');
	size_t n = strlen(s);
	if (!slash || slash == s || slash[1] == '\0' || n > 127 || strchr(slash + 1, '/'))
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (p == slash)
			continue;
		if (c <= 0x20 || c >= 0x7f || strchr(tspecials, c))
			return false;
	}
	return true;
}

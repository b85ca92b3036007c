/* smtp_header.c: the author fields of a received message (see smtp_header.h). */
#include "smtpd/smtp_header.h"

#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"

/* Length of the header block, blank line included, so the body is never parsed. */
static size_t header_length(const char *data, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (data[i] == '\n' &&
		    (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')))
			return i + 1;
	return len;
}

/* A display name as a mail client shows it: encoded words (RFC 2047) decoded. A name
 * that does not decode is kept as sent (its '@'s are still seen). */
static char *display_name(const char *raw)
{
	size_t idx = 0;
	char *decoded = NULL;

	if (raw == NULL)
		return xstrdup("");
	if (strstr(raw, "=?") != NULL &&
	    mailmime_encoded_phrase_parse("iso-8859-1", raw, strlen(raw), &idx, "utf-8", &decoded) ==
	        MAILIMF_NO_ERROR &&
	    decoded != NULL) {
		char *copy = xstrdup(decoded);

		free(decoded);
		return copy;
	}
	free(decoded);
	return xstrdup(raw);
}

static void add(char **list, char **names, size_t *n, const struct mailimf_mailbox *mb, bool *unreadable)
{
	if (mb == NULL || mb->mb_addr_spec == NULL || *n >= SMTP_HEADER_AUTHORS_MAX) {
		*unreadable = true;
		return;
	}
	names[*n] = display_name(mb->mb_display_name);
	list[*n] = xstrdup(mb->mb_addr_spec);
	str_lower(list[(*n)++]);
}

static bool named(const char *name, const char *want)
{
	return name != NULL && str_ieq(name, want);
}

static void one_field(const struct mailimf_field *f, struct smtp_header_authors *a)
{
	struct identity_header *h = &a->ids;

	if (f->fld_type == MAILIMF_FIELD_FROM && f->fld_data.fld_from && f->fld_data.fld_from->frm_mb_list) {
		for (clistiter *it = clist_begin(f->fld_data.fld_from->frm_mb_list->mb_list); it;
		     it = clist_next(it)) {
			add(a->from, a->from_names, &h->nfrom, clist_content(it), &h->unreadable);
		}
	} else if (f->fld_type == MAILIMF_FIELD_SENDER && f->fld_data.fld_sender) {
		add(a->sender, a->sender_names, &h->nsender, f->fld_data.fld_sender->snd_mb, &h->unreadable);
	} else if (f->fld_type == MAILIMF_FIELD_OPTIONAL_FIELD && f->fld_data.fld_optional_field &&
	           (named(f->fld_data.fld_optional_field->fld_name, "From") ||
	            named(f->fld_data.fld_optional_field->fld_name, "Sender"))) {
		h->unreadable = true; /* a From or Sender that is not a mailbox list */
	}
}

/* True when a line of text (the part of the header the parser did not read) starts a
 * From or Sender field. */
static bool author_field_in(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = 0, end = i;

		while (end < n && p[end] != '\n')
			end++;
		while (i + k < end && p[i + k] != ':' && p[i + k] != ' ' && p[i + k] != '\t')
			k++;
		if ((k == 4 && str_ieqn(p + i, "From", 4)) || (k == 6 && str_ieqn(p + i, "Sender", 6)))
			return true;
		i = end + 1;
	}
	return false;
}

void smtp_header_authors(const char *data, size_t len, struct smtp_header_authors *out)
{
	size_t hlen = header_length(data, len), idx = 0;
	struct mailimf_fields *fields = NULL;

	memset(out, 0, sizeof(*out));
	out->ids.from = (const char *const *)out->from;
	out->ids.sender = (const char *const *)out->sender;
	out->ids.from_names = (const char *const *)out->from_names;
	out->ids.sender_names = (const char *const *)out->sender_names;
	if (mailimf_fields_parse(data, hlen, &idx, &fields) != MAILIMF_NO_ERROR || fields == NULL) {
		out->ids.unreadable = author_field_in(data, hlen);
		return;
	}
	for (clistiter *it = clist_begin(fields->fld_list); it != NULL; it = clist_next(it))
		if (clist_content(it) != NULL)
			one_field(clist_content(it), out);
	mailimf_fields_free(fields);
	if (idx < hlen && author_field_in(data + idx, hlen - idx))
		out->ids.unreadable = true;
}

void smtp_header_free(struct smtp_header_authors *a)
{
	for (size_t i = 0; i < a->ids.nfrom; i++) {
		free(a->from[i]);
		free(a->from_names[i]);
	}
	for (size_t i = 0; i < a->ids.nsender; i++) {
		free(a->sender[i]);
		free(a->sender_names[i]);
	}
	memset(a, 0, sizeof(*a));
}

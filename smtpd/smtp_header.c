/* smtp_header.c: the author fields of a received message (see smtp_header.h). */
#include "smtpd/smtp_header.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"

/* Copies one field's addresses (lowercased) and names; false past the limit. */
static bool take(const struct msg_address_list *l, char **addrs, const char **names, size_t *n)
{
	for (size_t i = 0; i < l->n; i++) {
		if (*n >= SMTP_HEADER_AUTHORS_MAX)
			return false;
		addrs[*n] = xstrdup(l->v[i].addr);
		str_lower(addrs[*n]);
		names[(*n)++] = l->v[i].name;
	}
	return true;
}

void smtp_header_authors(const struct msg *m, const char *data, size_t len, struct smtp_header_authors *out)
{
	struct identity_header *h = &out->ids;

	memset(out, 0, sizeof(*out));
	h->from = (const char *const *)out->from;
	h->sender = (const char *const *)out->sender;
	h->from_names = out->from_names;
	h->sender_names = out->sender_names;
	if (m == NULL) {
		h->unreadable = msg_author_fields(data, msg_header_size(data, len)) > 0;
		return;
	}
	h->unreadable = m->h.authors_unreadable;
	out->from_text = msg_field_text(data, m->h.size, "From");
	out->sender_text = msg_field_text(data, m->h.size, "Sender");
	h->from_text = out->from_text;
	h->sender_text = out->sender_text;
	if (!take(&m->h.from, out->from, out->from_names, &h->nfrom) ||
	    !take(&m->h.sender, out->sender, out->sender_names, &h->nsender))
		h->unreadable = true;
}

void smtp_header_free(struct smtp_header_authors *a)
{
	for (size_t i = 0; i < a->ids.nfrom; i++)
		free(a->from[i]);
	for (size_t i = 0; i < a->ids.nsender; i++)
		free(a->sender[i]);
	free(a->from_text);
	free(a->sender_text);
	memset(a, 0, sizeof(*a));
}

/* imap_envelope.c: ENVELOPE from a header block (see imap_envelope.h). */
#include "imap/imap_envelope.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_address.h"
#include "imap/imap_header.h"
#include "imap/imap_quote.h"

enum env_field { E_DATE, E_SUBJECT, E_IN_REPLY_TO, E_MESSAGE_ID, E_NSTRINGS };
enum env_addr { A_FROM, A_SENDER, A_REPLY_TO, A_TO, A_CC, A_BCC, A_NLISTS };

static const char *const string_names[E_NSTRINGS] = {"Date", "Subject", "In-Reply-To", "Message-ID"};
static const char *const addr_names[A_NLISTS] = {"From", "Sender", "Reply-To", "To", "Cc", "Bcc"};

struct envelope {
	char *s[E_NSTRINGS]; /* unfolded values, NULL when absent */
	struct imap_address_list a[A_NLISTS];
};

static void take_field(struct envelope *e, const struct imap_header_field *f)
{
	for (int i = 0; i < E_NSTRINGS; i++)
		if (imap_header_is(f, string_names[i])) {
			struct buf b;
			buf_init(&b, BUF_UNLIMITED);
			imap_header_unfold(f->value, f->value_len, &b);
			free(e->s[i]); /* the last one counts, as in Dovecot */
			e->s[i] = buf_strdup(&b);
			buf_free(&b);
			return;
		}
	for (int i = 0; i < A_NLISTS; i++)
		if (imap_header_is(f, addr_names[i])) {
			imap_address_parse(f->value, f->value_len, &e->a[i]);
			return;
		}
}

static bool has_8bit(const char *s)
{
	for (; s != NULL && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* An nstring header value (unfolded: CR and LF dropped); ascii: UTF-8 as encoded
 * words (RFC 6858 3). */
static void write_value(struct buf *out, const char *v, bool ascii)
{
	if (ascii && has_8bit(v))
		imap_quote_encoded_words(out, v, strlen(v));
	else
		imap_quote_nstring_nolf(out, v);
}

static void write_envelope(struct buf *out, const char *h, size_t len, bool ascii)
{
	struct envelope e;
	struct imap_header_iter it;
	struct imap_header_field f;
	memset(&e, 0, sizeof(e));
	imap_header_iter_init(&it, h, len);
	while (imap_header_next(&it, &f) == 1)
		take_field(&e, &f);
	const struct imap_address_list *from = &e.a[A_FROM];
	buf_put_char(out, '(');
	write_value(out, e.s[E_DATE], ascii);
	buf_put_char(out, ' ');
	if (e.s[E_SUBJECT] == NULL)
		buf_put_str(out, "NIL");
	else if (ascii && has_8bit(e.s[E_SUBJECT]))
		imap_quote_encoded_words(out, e.s[E_SUBJECT], strlen(e.s[E_SUBJECT]));
	else
		imap_quote_for_humans(out, e.s[E_SUBJECT], strlen(e.s[E_SUBJECT]));
	for (int i = 0; i < A_NLISTS; i++) {
		const struct imap_address_list *l = &e.a[i];
		if ((i == A_SENDER || i == A_REPLY_TO) && l->n == 0)
			l = from; /* RFC 9051 7.5.2: defaults to From */
		buf_put_char(out, ' ');
		imap_address_write_envelope(out, l, ascii);
	}
	buf_put_char(out, ' ');
	write_value(out, e.s[E_IN_REPLY_TO], ascii);
	buf_put_char(out, ' ');
	write_value(out, e.s[E_MESSAGE_ID], ascii);
	buf_put_char(out, ')');
	for (int i = 0; i < E_NSTRINGS; i++)
		free(e.s[i]);
	for (int i = 0; i < A_NLISTS; i++)
		imap_address_list_free(&e.a[i]);
}

void imap_envelope_write(struct buf *out, const char *h, size_t len)
{
	write_envelope(out, h, len, false);
}

void imap_envelope_write_ascii(struct buf *out, const char *h, size_t len)
{
	write_envelope(out, h, len, true);
}

/* imap_msgsearch.c: SEARCH on a message's text (see imap_msgsearch.h). */
#include "imap/imap_msgsearch.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "imap/imap_address.h"
#include "imap/imap_decode.h"
#include "imap/imap_header.h"
#include "imap/imap_rfc822.h"
#include "lib/str.h"

#define DEPTH_MAX IMAP_MIME_DEPTH_MAX

static bool ci_find(const char *hay, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t k = 0;
		while (k < nn && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
			k++;
		if (k == nn)
			return true;
	}
	return false;
}

void imap_decode_words(const char *value, size_t len, struct buf *out)
{
	char *copy = xstrndup(value, len), *decoded = NULL;
	size_t idx = 0;
	if (strstr(copy, "=?") != NULL &&
	    mailmime_encoded_phrase_parse("utf-8", copy, len, &idx, "utf-8", &decoded) == MAILIMF_NO_ERROR &&
	    decoded != NULL)
		buf_put_str(out, decoded);
	else
		buf_put(out, value, len);
	free(decoded);
	free(copy);
}

static bool is_address_field(const struct imap_header_field *f)
{
	static const char *const names[] = {"From",      "Sender",    "Reply-To",    "To",
	                                    "Cc",        "Bcc",       "Resent-From", "Resent-Sender",
	                                    "Resent-To", "Resent-Cc", "Resent-Bcc"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (imap_header_is(f, names[i]))
			return true;
	return false;
}

/* The text a field is matched on. */
static void field_text(const struct imap_header_field *f, struct buf *out)
{
	struct buf unfolded;
	buf_init(&unfolded, BUF_UNLIMITED);
	imap_header_unfold(f->value, f->value_len, &unfolded);
	if (is_address_field(f)) {
		struct imap_address_list l = {0};
		struct buf a;
		buf_init(&a, BUF_UNLIMITED);
		imap_address_parse(unfolded.data, unfolded.len, &l);
		imap_address_write_text(&a, &l);
		imap_decode_words(a.data, a.len, out);
		imap_address_list_free(&l);
		buf_free(&a);
	} else {
		imap_decode_words(unfolded.data, unfolded.len, out);
	}
	buf_free(&unfolded);
}

bool imap_msgsearch_header(const char *header, size_t len, const char *field, const char *needle)
{
	struct imap_header_iter it;
	struct imap_header_field f;
	bool any = field == NULL || field[0] == '\0', hit = false;
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	imap_header_iter_init(&it, header, len);
	while (!hit && imap_header_next(&it, &f) == 1) {
		if (!any && !imap_header_is(&f, field))
			continue;
		buf_reset(&t);
		if (any) { /* TEXT: the whole field, name included */
			buf_put(&t, f.name, f.name_len);
			buf_put_str(&t, ": ");
		}
		field_text(&f, &t);
		hit = ci_find(t.data, t.len, needle);
	}
	buf_free(&t);
	return hit;
}

/* A text part's body, decoded and converted to UTF-8. */
static bool part_matches(const char *msg, const struct imap_part *p, const char *needle)
{
	const char *h = msg + p->pos;
	char *ct = imap_header_get(h, (size_t)p->header_size, "Content-Type");
	char *cte = imap_header_get(h, (size_t)p->header_size, "Content-Transfer-Encoding");
	char charset[64] = "";
	if (ct != NULL) {
		struct rfc822_parser ps;
		struct buf t;
		buf_init(&t, 256);
		rfc822_init(&ps, ct, strlen(ct), NULL);
		if (rfc822_skip_lwsp(&ps) > 0 && rfc822_parse_content_type(&ps, &t) >= 0) {
			struct rfc822_param *pv = NULL;
			size_t n = rfc822_parse_params(&ps, &pv, 32);
			for (size_t i = 0; i < n; i++)
				if (str_ieq(pv[i].name, "charset"))
					(void)!str_copy(charset, sizeof(charset), pv[i].value);
			rfc822_params_free(pv, n);
		}
		buf_free(&t);
	}
	enum imap_cte e = imap_cte_parse(cte != NULL ? str_trim(cte) : NULL);
	struct imap_decoder d;
	struct buf dec;
	buf_init(&dec, BUF_UNLIMITED);
	imap_decoder_init(&d, e == IMAP_CTE_UNKNOWN ? IMAP_CTE_7BIT : e);
	imap_decoder_feed(&d, msg + p->pos + p->header_size, (size_t)p->body_size, &dec);
	imap_decoder_finish(&d, &dec);
	bool hit;
	char *conv = NULL;
	size_t convlen = 0;
	if (charset[0] != '\0' && !str_ieq(charset, "utf-8") && !str_ieq(charset, "us-ascii") &&
	    charconv_buffer("utf-8", charset, dec.data, dec.len, &conv, &convlen) == MAIL_CHARCONV_NO_ERROR) {
		hit = ci_find(conv, convlen, needle);
		charconv_buffer_free(conv);
	} else {
		hit = ci_find(dec.data, dec.len, needle);
	}
	buf_free(&dec);
	free(ct);
	free(cte);
	return hit;
}

static bool body_matches(const char *msg, const struct imap_part *p, const char *needle, bool headers,
                         int depth)
{
	if (p == NULL || depth > DEPTH_MAX)
		return false;
	if (p->flags & IMAP_PART_MESSAGE) {
		const struct imap_part *inner = p->children;
		if (inner != NULL && headers &&
		    imap_msgsearch_header(msg + inner->pos, (size_t)inner->header_size, NULL, needle))
			return true;
		return inner != NULL && body_matches(msg, inner, needle, headers, depth + 1);
	}
	if (p->flags & IMAP_PART_MULTIPART) {
		for (const struct imap_part *c = p->children; c != NULL; c = c->next)
			if (body_matches(msg, c, needle, headers, depth + 1))
				return true;
		return false;
	}
	return (p->flags & IMAP_PART_TEXT) && part_matches(msg, p, needle);
}

/* The message's own body: the root's children, or the root itself when it is a leaf. */
static bool message_body(const char *msg, size_t len, const struct imap_part *root, const char *needle,
                         bool headers)
{
	if (root->pos + root->header_size + root->body_size > len)
		return false; /* the tree does not describe these octets */
	return body_matches(msg, root, needle, headers, 0);
}

bool imap_msgsearch_body(const char *msg, size_t len, const struct imap_part *root, const char *needle)
{
	return message_body(msg, len, root, needle, false);
}

bool imap_msgsearch_text(const char *msg, size_t len, const struct imap_part *root, const char *needle)
{
	if (root->header_size <= len && imap_msgsearch_header(msg, (size_t)root->header_size, NULL, needle))
		return true;
	return message_body(msg, len, root, needle, true);
}

/* imap_binary.c: FETCH BINARY: decoding with libetpan (mailmime_part_parse). */
#include "imapd/imap_binary.h"

#include <ctype.h>
#include <libetpan/libetpan.h>
#include <string.h>

#include "lib/log.h"
#include "lib/str.h"

/* Finds "Content-Transfer-Encoding:" at the start of a header line (unfolded value). */
int imap_binary_cte(const char *h, size_t len)
{
	static const char name[] = "content-transfer-encoding:";
	const size_t nl = sizeof(name) - 1;
	for (size_t i = 0; i + nl <= len; i++) {
		if ((i > 0 && h[i - 1] != '\n') || !str_ieqn(h + i, name, nl))
			continue;
		size_t p = i + nl;
		char v[32];
		size_t n = 0;
		for (; p < len; p++) {
			char c = h[p];
			if (c == '\n' && !(p + 1 < len && (h[p + 1] == ' ' || h[p + 1] == '\t')))
				break; /* the end of the field (a folded line continues it) */
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			if (n + 1 >= sizeof(v))
				return -1;
			v[n++] = (char)tolower((unsigned char)c);
		}
		v[n] = '\0';
		if (strcmp(v, "7bit") == 0 || strcmp(v, "8bit") == 0 || strcmp(v, "binary") == 0)
			return MAILMIME_MECHANISM_7BIT;
		if (strcmp(v, "base64") == 0)
			return MAILMIME_MECHANISM_BASE64;
		if (strcmp(v, "quoted-printable") == 0)
			return MAILMIME_MECHANISM_QUOTED_PRINTABLE;
		return -1;
	}
	return MAILMIME_MECHANISM_7BIT;
}

/* Reads one section kind of the same part into out. Returns store_fetch_section's value. */
static int read_part(struct imap_session *s, uint32_t uid, const struct store_section *base,
                     enum store_section_kind kind, struct buf *out)
{
	struct store_section sec = *base;
	sec.kind = kind;
	sec.offset = 0;
	sec.length = UINT64_MAX;
	char err[256];
	int rc = store_fetch_section(s->store, s->view.id, uid, &sec, out, err, sizeof(err));
	if (rc < 0)
		log_err("imap.fetch", "user=%s uid=%u error=\"%s\"", s->account.address, uid, err);
	return rc;
}

int imap_binary_section(struct imap_session *s, uint32_t uid, const struct store_section *sec,
                        struct buf *out)
{
	if (sec->depth == 0)
		return read_part(s, uid, sec, STORE_SECTION_ALL, out);
	struct buf mime, raw;
	buf_init(&mime, BUF_UNLIMITED);
	buf_init(&raw, BUF_UNLIMITED);
	int rc = read_part(s, uid, sec, STORE_SECTION_MIME, &mime);
	if (rc == 0)
		rc = read_part(s, uid, sec, STORE_SECTION_ALL, &raw);
	int cte = rc == 0 ? imap_binary_cte(mime.data, mime.len) : 0;
	if (rc == 0 && cte < 0) {
		rc = -2;
	} else if (rc == 0 && cte == MAILMIME_MECHANISM_7BIT) {
		buf_append(out, raw.data, raw.len);
	} else if (rc == 0) {
		size_t idx = 0, dlen = 0;
		char *dec = NULL;
		if (mailmime_part_parse(raw.data, raw.len, &idx, cte, &dec, &dlen) != MAILIMF_NO_ERROR) {
			rc = -2;
		} else {
			buf_append(out, dec, dlen);
			mailmime_decoded_part_free(dec);
		}
	}
	buf_free(&mime);
	buf_free(&raw);
	return rc;
}

/* store_meta.c: a message's cached metadata at rest (issue 12, doc/architecture.md
 * "What a copied disk reveals").
 *
 * ENVELOPE, BODYSTRUCTURE, BODY and References carry subjects, names, addresses and
 * attachment file names: they are kept as one record per stored copy, sealed under a
 * subkey of the message's content key (its own key since store migration 8, the
 * owner's account key before; store_msgkey.c) (crypto_record_*), in messages.meta and
 * retained.meta; the old plaintext columns hold '' (refs NULL). Record plaintext:
 *   version (1 octet, 1) | 4 x (length, 4 octets big-endian | octets)
 * in the order envelope, bodystructure, body, refs; absent References have the length
 * 0xffffffff. One seal per copy at delivery/APPEND, one open per message when a
 * command asks for these items; flags, UIDs, sizes and dates stay plain, so SELECT
 * and FETCH FLAGS never decrypt. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/str.h"
#include "store/store_int.h"

#define META_VERSION 1
#define META_ABSENT 0xffffffffu
#define META_AD "mss.message.meta.1"
#define META_KDF_CTX "mss_meta"
#define META_MAX (64u * 1024 * 1024) /* far above any ENVELOPE/BODYSTRUCTURE imap/ writes */

static void meta_key(const unsigned char key[CRYPTO_KEY_LEN], unsigned char sub[CRYPTO_KEY_LEN])
{
	crypto_subkey(sub, key, 1, META_KDF_CTX);
}

static int put_field(struct buf *b, const char *s)
{
	unsigned char len[4];
	size_t n = s != NULL ? strlen(s) : 0;
	uint32_t v = s != NULL ? (uint32_t)n : META_ABSENT;
	if (n >= META_MAX)
		return -1;
	len[0] = (unsigned char)(v >> 24);
	len[1] = (unsigned char)(v >> 16);
	len[2] = (unsigned char)(v >> 8);
	len[3] = (unsigned char)v;
	return buf_append(b, len, 4) < 0 || buf_append(b, s != NULL ? s : "", n) < 0 ? -1 : 0;
}

int store_meta_seal(const unsigned char key[CRYPTO_KEY_LEN], const struct store_meta_text *t, struct buf *out,
                    char *err, size_t errlen)
{
	unsigned char sub[CRYPTO_KEY_LEN];
	struct buf plain;
	const char version = META_VERSION;
	meta_key(key, sub);
	buf_init(&plain, META_MAX);
	int rc = buf_append(&plain, &version, 1) < 0 || put_field(&plain, t->envelope) < 0 ||
	                 put_field(&plain, t->bodystructure) < 0 || put_field(&plain, t->body) < 0 ||
	                 put_field(&plain, t->refs) < 0
	             ? -1
	             : 0;
	if (rc == 0 && crypto_record_seal(sub, META_AD, plain.data, plain.len, out) < 0)
		rc = -1;
	if (rc < 0)
		str_error(err, errlen, "message metadata cannot be sealed");
	sodium_memzero(plain.data, plain.len);
	buf_free(&plain);
	sodium_memzero(sub, sizeof sub);
	return rc;
}

/* Reads one field at *pos; returns a malloc'ed string (NULL when absent) or sets *bad. */
static char *get_field(const struct buf *b, size_t *pos, bool *bad)
{
	if (b->len - *pos < 4) {
		*bad = true;
		return NULL;
	}
	const unsigned char *p = (const unsigned char *)b->data + *pos;
	uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*pos += 4;
	if (v == META_ABSENT)
		return NULL;
	if (v > b->len - *pos) {
		*bad = true;
		return NULL;
	}
	char *s = xstrndup(b->data + *pos, v);
	*pos += v;
	return s;
}

int store_meta_open(const unsigned char key[CRYPTO_KEY_LEN], const void *p, size_t n,
                    struct store_meta_text *out, char *err, size_t errlen)
{
	unsigned char sub[CRYPTO_KEY_LEN];
	struct buf plain;
	memset(out, 0, sizeof *out);
	meta_key(key, sub);
	buf_init(&plain, META_MAX);
	int rc = crypto_record_open(sub, META_AD, p, n, &plain);
	sodium_memzero(sub, sizeof sub);
	bool bad = rc < 0 || plain.len < 1 || plain.data[0] != META_VERSION;
	size_t pos = 1;
	if (!bad) {
		out->envelope = get_field(&plain, &pos, &bad);
		out->bodystructure = get_field(&plain, &pos, &bad);
		out->body = get_field(&plain, &pos, &bad);
		out->refs = get_field(&plain, &pos, &bad);
		bad = bad || pos != plain.len;
	}
	sodium_memzero(plain.data, plain.len);
	buf_free(&plain);
	if (bad) {
		store_meta_text_free(out);
		str_error(err, errlen, "message metadata altered or sealed under another key");
		return -1;
	}
	return 0;
}

void store_meta_text_free(struct store_meta_text *t)
{
	free(t->envelope);
	free(t->bodystructure);
	free(t->body);
	free(t->refs);
	memset(t, 0, sizeof *t);
}

/* vault_folder.c: the one writer and reader of the vault's own folders (see
 * vault_folder.h). */
#include "vault/vault_folder.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "lib/localtime.h"
#include "msg/msg.h"
#include "vault/vault.h"
#include "vault/vault_mime.h"

#define HEADER_READ (64 * 1024) /* a vault message's header is far smaller */

int vault_folder_append(struct store *st, const char *user, const char *mailbox, const char *data, size_t len,
                        bool masked, int64_t when, uint32_t *uid, char *err, size_t errlen)
{
	struct store_appender *a = NULL;
	uint32_t uidvalidity, *uids = NULL;
	size_t n = 0;
	int rc = store_append_begin(st, user, mailbox, &a, err, errlen);

	if (rc == 1) { /* the first message: the folder is made now */
		if (store_mailbox_create(st, user, mailbox, 0, err, errlen) < 0)
			return -1;
		rc = store_append_begin(st, user, mailbox, &a, err, errlen);
	}
	if (rc != 0)
		return -1;
	if (store_append_message(a, STORE_FLAG_SEEN, masked ? VAULT_MASKED_KEYWORD : NULL, when, err,
	                         errlen) != 0 ||
	    store_append_write(a, data, len, err, errlen) < 0 || store_append_end(a, err, errlen) < 0) {
		store_append_abort(a);
		return -1;
	}
	rc = store_append_commit(a, &uidvalidity, &uids, &n, err, errlen);
	if (rc == 0 && n == 1)
		*uid = uids[0];
	free(uids);
	if (rc == 0 && n != 1) {
		str_error(err, errlen, "the message was not stored");
		return -1;
	}
	return rc == 0 ? 0 : -1;
}

char *vault_folder_bundle(json_t *resources, int64_t when)
{
	char iso[32];
	struct tm tm;
	time_t t = (time_t)when;
	json_t *entries = json_array(), *r, *b;
	char *s = NULL;
	size_t i;

	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_array_foreach(resources, i, r)
	{
		if (entries != NULL &&
		    json_array_append_new(entries, json_pack("{s:O}", "resource", r)) < 0) {
			json_decref(entries);
			entries = NULL;
		}
	}
	b = resources != NULL && entries != NULL
	        ? json_pack("{s:s, s:s, s:s, s:o}", "resourceType", "Bundle", "type", "collection",
	                    "timestamp", iso, "entry", entries)
	        : NULL;
	if (b == NULL && resources != NULL && entries != NULL)
		json_decref(entries);
	json_decref(resources);
	if (b != NULL) {
		s = json_dumps(b, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		json_decref(b);
	}
	return s;
}

int vault_folder_build(struct buf *b, const struct vault_folder_msg *m)
{
	char date[64], tok[33], boundary[33], id[128];
	int rc = 0;

	mss_date_rfc5322(m->zone, m->when, date, sizeof(date));
	mime_random_token(tok);
	mime_random_token(boundary);
	rc |= str_format(id, sizeof(id), "<%s.%s@%s>", m->id_kind, tok, str_address_domain(m->patient));
	rc |= mime_header(b, "From", m->patient);
	rc |= mime_header(b, "To", m->patient);
	rc |= mime_header(b, "Date", date);
	rc |= mime_header(b, "Subject", m->subject);
	rc |= mime_header(b, "Message-ID", id);
	rc |= mime_header(b, m->mark, m->mark_value);
	rc |= buf_printf(
	    b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"%s\"\r\n\r\n", boundary);
	rc |= mime_text_part(b, boundary, m->text);
	rc |= mime_attachment(b, boundary, "application/fhir+json", m->json_file, m->json, strlen(m->json));
	rc |= buf_printf(b, "--%s--\r\n", boundary);
	return rc ? -1 : 0;
}

bool vault_folder_masked(const char *keywords)
{
	size_t n = strlen(VAULT_MASKED_KEYWORD);
	for (const char *p = keywords; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, " ");
		if (len == n && strncasecmp(p, VAULT_MASKED_KEYWORD, n) == 0)
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? -1 : 0;
}

int vault_folder_read(struct store *st, int64_t mbid, uint32_t uid, size_t max, struct buf *out)
{
	struct store_body *b = NULL;
	char err[256];
	int rc = store_body_open(st, mbid, uid, &b, err, sizeof(err));

	if (rc != 1)
		return rc;
	rc = store_body_read(b, 0, max, to_buf, out, err, sizeof(err));
	store_body_close(b);
	return rc == 0 && buf_append_char(out, '\0') == 0 ? 1 : -1;
}

/* A field's value from v (after the colon) into out, unfolded (RFC 5322 2.2.3: a line
 * break before a blank goes, mime_header folds a long value so), blanks around it
 * dropped. 1, or 0 when it does not fit. */
static int unfold(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	v += strspn(v, " \t");
	for (;;) {
		size_t n = strcspn(v, "\r\n");
		if (o + n >= outlen)
			return 0;
		memcpy(out + o, v, n);
		o += n;
		v += n;
		v += *v == '\r';
		v += *v == '\n';
		if (*v != ' ' && *v != '\t')
			break;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return 1;
}

int vault_folder_header(struct store *st, int64_t mbid, uint32_t uid, const char *name, char *out,
                        size_t outlen)
{
	size_t nlen = strlen(name);
	struct buf h;
	int rc;

	buf_init(&h, HEADER_READ * 2);
	rc = vault_folder_read(st, mbid, uid, HEADER_READ, &h);
	if (rc == 1) {
		h.data[msg_header_size(h.data, h.len - 1)] = '\0';
		rc = 0;
		for (char *p = h.data; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
				continue;
			rc = unfold(p + nlen + 1, out, outlen);
			break;
		}
	}
	buf_free(&h);
	return rc;
}

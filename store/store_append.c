/* store_append.c: APPEND, streamed (see store.h, store_append_*).
 *
 * Each message is encrypted into its blob as its octets arrive and analysed by the
 * same pass (imap/ part tree, ENVELOPE, BODYSTRUCTURE); nothing holds the whole
 * message. The blobs are durable before the transaction that references them begins,
 * and that one transaction inserts every message of the command (RFC 3502: all or
 * none). On failure the blobs written are removed: nothing remains. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

struct append_msg {
	char blob[STORE_BLOB_NAME_LEN];
	struct store_msgkey mk; /* its own key, sealed to the owner (store_msgkey.c) */
	struct store_mime_info mi;
	uint32_t flags;
	char *keywords;
	int64_t date;
	uint64_t size;
};

struct store_appender {
	struct store *st;
	int64_t user_id;
	char mailbox[STORE_MAILBOX_MAX];
	struct append_msg *msgs;
	size_t n;
	struct store_paths written;
	/* the message being written */
	struct blob_writer *w;
	struct store_mime_stream *ms;
	char path[CONFIG_PATH_MAX + 64];
};

int store_append_begin(struct store *st, const char *user, const char *mailbox, struct store_appender **out,
                       char *err, size_t errlen)
{
	*out = NULL;
	struct store_appender *a = xcalloc(1, sizeof(*a));
	a->st = st;
	int rc = store_user_id(st, user, &a->user_id, err, errlen);
	if (rc == 0)
		str_error(err, errlen, "no such account");
	if (rc == 1 && store_name_normalise(mailbox, a->mailbox, sizeof(a->mailbox)) < 0) {
		str_error(err, errlen, "no such mailbox");
		rc = 0;
	}
	struct store_mailbox mb;
	if (rc == 1 && (rc = store_mailbox_row(st, a->user_id, a->mailbox, &mb, NULL, err, errlen)) == 0)
		str_error(err, errlen, "no such mailbox");
	if (rc != 1) {
		store_append_abort(a);
		return rc < 0 ? -1 : 1;
	}
	*out = a;
	return 0;
}

int store_append_message(struct store_appender *a, uint32_t flags, const char *keywords,
                         int64_t internal_date, char *err, size_t errlen)
{
	char kw[STORE_KEYWORDS_MAX];
	if (store_keywords_normalise(keywords, kw, sizeof(kw)) != 0) {
		str_error(err, errlen, "invalid keyword");
		return 1;
	}
	a->msgs = xrealloc(a->msgs, (a->n + 1) * sizeof(*a->msgs));
	struct append_msg *m = &a->msgs[a->n];
	memset(m, 0, sizeof(*m));
	if (store_msgkey_new(a->st, a->user_id, &m->mk, err, errlen) < 0)
		return -1;
	a->w = store_blob_create(a->st, m->mk.key, m->blob, a->path, sizeof(a->path), err, errlen);
	if (a->w == NULL) {
		store_msgkey_wipe(&m->mk);
		return -1;
	}
	a->n++;
	m->flags = flags & STORE_FLAG_ALL;
	m->keywords = xstrdup(kw);
	m->date = internal_date != 0 ? internal_date : (int64_t)time(NULL);
	a->ms = store_mime_stream_new();
	return 0;
}

int store_append_write(struct store_appender *a, const void *p, size_t n, char *err, size_t errlen)
{
	if (a->w == NULL) {
		str_error(err, errlen, "no message started");
		return -1;
	}
	if (crypto_blob_write(a->w, p, n, err, errlen) < 0)
		return -1;
	store_mime_stream_feed(a->ms, p, n);
	a->msgs[a->n - 1].size += n;
	return 0;
}

int store_append_end(struct store_appender *a, char *err, size_t errlen)
{
	if (a->w == NULL) {
		str_error(err, errlen, "no message started");
		return -1;
	}
	struct append_msg *m = &a->msgs[a->n - 1];
	store_mime_stream_finish(a->ms, &m->mi);
	a->ms = NULL;
	int rc = crypto_blob_commit(a->w, err, errlen); /* fsynced and renamed: durable */
	a->w = NULL;
	if (rc == 0)
		store_paths_add(&a->written, a->path);
	return rc;
}

static int insert_all(struct store_appender *a, uint32_t *uidvalidity, uint32_t *first, int64_t *mailbox_id,
                      char *err, size_t errlen)
{
	struct store_mailbox mb;
	uint64_t modseq;
	int rc = store_mailbox_row(a->st, a->user_id, a->mailbox, &mb, NULL, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such mailbox");
		return rc < 0 ? -1 : 1;
	}
	*uidvalidity = mb.uidvalidity;
	*mailbox_id = mb.id;
	if (store_mailbox_bump(a->st, mb.id, (uint32_t)a->n, first, &modseq, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		struct append_msg *m = &a->msgs[i];
		struct store_new_msg row = {.key = m->mk.key,
		                            .mailbox_id = mb.id,
		                            .flags = m->flags,
		                            .keywords = m->keywords,
		                            .internaldate = m->date,
		                            .size = m->size,
		                            .mi = &m->mi};
		if (store_blob_insert(a->st, a->user_id, m->blob, m->size, m->mk.sealed, NULL, &row.blob_id,
		                      err, errlen) < 0 ||
		    store_message_insert(a->st, &row, *first + (uint32_t)i, modseq, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int store_append_commit(struct store_appender *a, uint32_t *uidvalidity, uint32_t **uids, size_t *n,
                        char *err, size_t errlen)
{
	*uids = NULL;
	*n = 0;
	if (a->w != NULL || a->n == 0) {
		str_error(err, errlen, "no complete message to append");
		store_append_abort(a);
		return -1;
	}
	struct store_txn t;
	uint32_t first = 0;
	int64_t mailbox_id = 0;
	int rc = store_txn_begin(a->st, &t, err, errlen);
	if (rc == 0) {
		rc = insert_all(a, uidvalidity, &first, &mailbox_id, err, errlen);
		rc = store_txn_end(a->st, &t, rc, err, errlen);
	}
	if (rc != 0) {
		store_append_abort(a);
		return rc;
	}
	store_notify(a->st, mailbox_id);
	*uids = xmalloc(a->n * sizeof(**uids));
	for (size_t i = 0; i < a->n; i++)
		(*uids)[i] = first + (uint32_t)i;
	*n = a->n;
	store_paths_free(&a->written); /* referenced now: kept */
	store_append_abort(a);
	return 0;
}

void store_append_abort(struct store_appender *a)
{
	if (a == NULL)
		return;
	if (a->w != NULL)
		crypto_blob_abort(a->w);
	if (a->ms != NULL) {
		struct store_mime_info mi;
		store_mime_stream_finish(a->ms, &mi);
		store_mime_info_free(&mi);
	}
	store_paths_discard(a->st, &a->written); /* kept if a lost commit may have taken */
	for (size_t i = 0; i < a->n; i++) {
		store_mime_info_free(&a->msgs[i].mi);
		free(a->msgs[i].keywords);
		store_msgkey_wipe(&a->msgs[i].mk);
	}
	free(a->msgs);
	free(a);
}

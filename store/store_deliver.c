/* store_deliver.c: new messages: SMTP delivery to several accounts (APPEND is
 * store_append.c).
 *
 * Order that makes "250" true: parse once, encrypt every recipient's blob (a small one
 * kept for its row, a larger one written to a file, fsynced, renamed), then one write
 * transaction inserting every row (the small blobs in them), then commit: the commit's
 * group WAL sync makes the small blobs durable with the rows. Any failure rolls back
 * and removes the blob files written: nothing remains. Inside a caller's open
 * transaction (policy) the rows join it as a savepoint. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/sql.h"
#include "lib/log.h"
#include "lib/str.h"
#include "store/store_int.h"

int store_message_insert(struct store *st, const struct store_new_msg *m, uint32_t uid, uint64_t modseq,
                         char *err, size_t errlen)
{
	const char *kw = (m->keywords != NULL && m->keywords[0] != '\0') ? m->keywords : NULL;
	const struct store_mime_info *mi = m->mi;
	struct buf sealed;
	buf_init(&sealed, BUF_UNLIMITED);
	const struct buf *meta = m->meta;
	if (meta == NULL && store_message_meta(m->key, mi, &sealed, err, errlen) < 0) {
		buf_free(&sealed);
		return -1;
	}
	if (meta == NULL)
		meta = &sealed;
	/* the plaintext columns stay empty: subjects, names and file names only sealed */
	int rc =
	    sql_exec(st->sql, "store.message_insert",
	             "INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags,"
	             " keywords, blob_id, sent_date, header_size, envelope, bodystructure, body,"
	             " parts, sent_local, meta)"
	             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, '', '', '', ?11, ?12, ?13)",
	             SQL_ARGS(SQL_INT(m->mailbox_id), SQL_INT(uid), SQL_INT(modseq), SQL_INT(m->internaldate),
	                      SQL_INT(m->size), SQL_INT(m->flags & STORE_FLAG_ALL), SQL_TEXT(kw),
	                      SQL_INT(m->blob_id), SQL_INT(mi->sent_date), SQL_INT(mi->header_size),
	                      SQL_BLOB(mi->parts.data, mi->parts.len), SQL_INT(mi->sent_local),
	                      SQL_BLOB(meta->data, meta->len)),
	             err, errlen) != 1
	        ? -1
	        : 0;
	buf_free(&sealed);
	/* the readers the vault gives this mailbox get the key now: public keys only */
	if (rc == 0)
		rc = store_readers_seal_new(st, m, err, errlen);
	return rc;
}

int store_message_meta(const unsigned char *key, const struct store_mime_info *mi, struct buf *out, char *err,
                       size_t errlen)
{
	const struct store_meta_text t = {mi->envelope, mi->bodystructure, mi->body, mi->refs};
	return store_meta_seal(key, &t, out, err, errlen);
}

/* One recipient's part of a delivery, prepared before the transaction. */
struct rcpt_plan {
	const char *address;
	int64_t user_id;
	char blob[STORE_BLOB_NAME_LEN];
	struct buf row;         /* the encrypted blob when it goes into its row (empty: a file) */
	struct buf meta;        /* the message row's sealed metadata */
	struct store_msgkey mk; /* the message's key for this recipient (wiped after) */
	int64_t mailbox_id;     /* filled inside the transaction */
};

/* The blob and the row's metadata under a fresh message key sealed to the
 * recipient's public key: delivery holds no account's secret (store_msgkey.c). All
 * of it before the transaction, so that none of it is done under the write lock. */
static int plan_rcpt(struct store *st, const char *address, const char *data, size_t len,
                     const struct store_mime_info *mi, struct rcpt_plan *p, struct store_paths *written,
                     char *err, size_t errlen)
{
	p->address = address;
	int rc = store_msgkey_for(st, address, &p->user_id, &p->mk, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "recipient has no mailboxes");
		return -1;
	}
	if (store_message_meta(p->mk.key, mi, &p->meta, err, errlen) < 0)
		return -1;
	return store_blob_put(st, p->mk.key, data, len, p->blob, &p->row, written, err, errlen);
}

/* Inside the transaction: one UID of the target mailbox (created when missing), the
 * blob row, the message row. */
static int insert_for(struct store *st, struct rcpt_plan *p, const char *mailbox,
                      const struct store_new_msg *tmpl, uint32_t *uid, char *err, size_t errlen)
{
	struct store_new_msg m = *tmpl;
	uint64_t modseq;
	int rc =
	    store_mailbox_bump_name(st, p->user_id, mailbox, 1, uid, &modseq, &p->mailbox_id, err, errlen);
	if (rc == 0) {
		if (store_mailbox_create_locked(st, p->user_id, mailbox, 0, true, err, errlen) != 0)
			return -1;
		rc = store_mailbox_bump_name(st, p->user_id, mailbox, 1, uid, &modseq, &p->mailbox_id, err,
		                             errlen);
		if (rc == 0)
			str_error(err, errlen, "mailbox %s not created", mailbox);
	}
	if (rc != 1)
		return -1;
	m.mailbox_id = p->mailbox_id;
	m.key = p->mk.key;
	m.meta = &p->meta;
	m.owner = p->address;
	m.mailbox = mailbox;
	if (store_blob_insert(st, p->user_id, p->blob, tmpl->size, p->mk.sealed, &p->row, &m.blob_id, err,
	                      errlen) < 0)
		return -1;
	return store_message_insert(st, &m, *uid, modseq, err, errlen);
}

static int deliver_rows(struct store *st, const struct store_delivery *d, const char *mailbox,
                        struct rcpt_plan *plans, const struct store_new_msg *tmpl, uint32_t *uids_out,
                        char *err, size_t errlen)
{
	struct store_txn t;
	int rc = 0;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < d->nrcpt && rc == 0; i++) {
		uint32_t uid;
		rc = insert_for(st, &plans[i], mailbox, tmpl, &uid, err, errlen);
		if (rc == 0 && uids_out != NULL)
			uids_out[i] = uid;
	}
	if (rc == 0 && d->in_transaction != NULL &&
	    d->in_transaction(d->in_transaction_arg, err, errlen) != 0)
		rc = -1;
	return store_txn_end(st, &t, rc, err, errlen);
}

static int deliver_prepare(const struct store_delivery *d, char *mailbox, uint32_t *flags, char *keywords,
                           char *err, size_t errlen)
{
	if (d->nrcpt == 0 || d->data == NULL) {
		str_error(err, errlen, "nothing to deliver");
		return -1;
	}
	if (store_name_normalise(d->mailbox != NULL ? d->mailbox : "INBOX", mailbox, STORE_MAILBOX_MAX) < 0) {
		str_error(err, errlen, "invalid mailbox name");
		return -1;
	}
	if (store_flags_split(d->flags, flags, keywords, STORE_KEYWORDS_MAX) != 0) {
		str_error(err, errlen, "invalid initial flags");
		return -1;
	}
	return 0;
}

/* A delivery prepared before its transaction (store_deliver_prepare). */
struct store_prepared {
	struct store_delivery d; /* its data is not read again after the prepare */
	char mailbox[STORE_MAILBOX_MAX];
	char keywords[STORE_KEYWORDS_MAX];
	struct store_mime_info mi;
	struct store_new_msg tmpl;
	struct rcpt_plan *plans;
	struct store_paths written; /* blob files to remove unless the rows are stored */
};

int store_deliver_prepare(struct store *st, const struct store_delivery *d, struct store_prepared **out,
                          char *err, size_t errlen)
{
	uint32_t flags;
	*out = NULL;
	struct store_prepared *p = xcalloc(1, sizeof *p);
	if (deliver_prepare(d, p->mailbox, &flags, p->keywords, err, errlen) < 0) {
		free(p);
		return -1;
	}
	p->d = *d;
	p->d.mailbox = p->mailbox;
	store_mime_build(d->data, d->len, &p->mi);
	p->tmpl = (struct store_new_msg){.flags = flags,
	                                 .keywords = p->keywords,
	                                 .internaldate =
	                                     d->internal_date != 0 ? d->internal_date : (int64_t)time(NULL),
	                                 .size = d->len,
	                                 .mi = &p->mi};
	p->plans = xcalloc(d->nrcpt, sizeof *p->plans);
	for (size_t i = 0; i < d->nrcpt; i++) {
		buf_init(&p->plans[i].row, BUF_UNLIMITED);
		buf_init(&p->plans[i].meta, BUF_UNLIMITED);
	}
	int rc = 0;
	for (size_t i = 0; i < d->nrcpt && rc == 0; i++)
		rc = plan_rcpt(st, d->rcpts[i], d->data, d->len, &p->mi, &p->plans[i], &p->written, err,
		               errlen);
	p->d.data = NULL; /* the caller may free the message: the rows need only the plans */
	*out = p;
	if (rc != 0) {
		store_deliver_free(st, p);
		*out = NULL;
	}
	return rc;
}

int store_deliver_rows(struct store *st, struct store_prepared *p, uint32_t *uids_out, char *err,
                       size_t errlen)
{
	const struct store_delivery *d = &p->d;
	int rc = deliver_rows(st, d, p->mailbox, p->plans, &p->tmpl, uids_out, err, errlen);
	if (rc != 0) {
		store_paths_discard(st, &p->written);
		return rc;
	}
	/* in a committer's batch the commit is still to come: its failure removes them */
	for (size_t i = 0; st->in_batch && i < p->written.n; i++)
		store_paths_add(&st->batch_written, p->written.v[i]);
	store_paths_free(&p->written);
	for (size_t i = 0; i < d->nrcpt; i++)
		store_notify(st, p->plans[i].mailbox_id);
	return 0;
}

void store_deliver_free(struct store *st, struct store_prepared *p)
{
	if (p == NULL)
		return;
	store_paths_discard(st, &p->written); /* empty once the rows are stored */
	for (size_t i = 0; i < p->d.nrcpt; i++) {
		store_msgkey_wipe(&p->plans[i].mk);
		buf_free(&p->plans[i].row);
		buf_free(&p->plans[i].meta);
	}
	free(p->plans);
	store_mime_info_free(&p->mi);
	free(p);
}

int store_deliver(struct store *st, const struct store_delivery *d, uint32_t *uids_out, char *err,
                  size_t errlen)
{
	struct store_prepared *p;
	if (store_deliver_prepare(st, d, &p, err, errlen) < 0)
		return -1;
	int rc = store_deliver_rows(st, p, uids_out, err, errlen);
	store_deliver_free(st, p);
	return rc;
}

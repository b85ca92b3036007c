/* vault_history.c: the patient's history, from the audit log. */
#include "vault/vault_history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/localtime.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "vault/vault.h"
#include "vault/vault_mime.h"
#include "store/store.h"
#include "store/store_sql.h"

struct walk {
	int (*fn)(const struct vault_history_entry *e, void *arg);
	void *arg;
};

static int one(const struct audit_record *r, void *arg)
{
	struct walk *w = arg;
	struct vault_history_entry e;
	memset(&e, 0, sizeof e);
	e.seq = r->seq;
	e.time = r->time;
	/* the audit record's fields (audit.h) and the entry's have the same sizes */
	int rc =
	    str_copy(e.who, sizeof e.who, r->actor) | str_copy(e.document, sizeof e.document, r->target) |
	    str_copy(e.result, sizeof e.result, r->result) | str_copy(e.action, sizeof e.action, r->action) |
	    str_copy(e.detail, sizeof e.detail, r->detail) |
	    str_copy(e.patient, sizeof e.patient, r->patient);
	str_assert(rc, "audit record fields into history entry fields of the same sizes");
	str_assert(str_copy(e.what, sizeof e.what,
	                    vault_history_label(r->action, str_ieq(r->actor, r->patient),
	                                        strcmp(r->result, "ok") == 0)),
	           "the labels are constants under 96 bytes");
	return w->fn(&e, w->arg);
}

int vault_history_foreach(struct store *st, const char *patient, int64_t after_seq,
                          int (*fn)(const struct vault_history_entry *e, void *arg), void *arg)
{
	char p[256];
	struct walk w = {fn, arg};
	if (str_copy(p, sizeof p, patient) != 0)
		return 0; /* longer than any address: no history */
	str_lower(p);
	return audit_foreach_patient(st, p, after_seq, one, &w);
}

void vault_history_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	str_assert(str_format(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec),
	           "at most 31 bytes (an int year) into VAULT_TIME_SIZE (vault_history.h)");
}

int vault_history_message(const char *service_address, const char *patient, const char *zone,
                          const struct vault_history_entry *e, const struct vault_history_text *t,
                          struct buf *out)
{
	char msgid[300], date[64];
	const char *domain = strchr(service_address, '@');
	int rc = 0;
	str_assert(
	    str_format(msgid, sizeof msgid, "<history.%lld%s>", (long long)e->seq, domain ? domain : "@mss"),
	    "a number and \"@\" and a configured domain (CONFIG_STR_MAX) fit 300");
	mss_date_rfc5322(zone, e->time, date, sizeof date);
	rc |= mime_header(out, "From", service_address);
	rc |= mime_header(out, "To", patient);
	rc |= mime_header(out, "Date", date);
	rc |= mime_header(out, "Subject", t->subject);
	rc |= mime_header(out, "Message-ID", msgid);
	rc |= buf_append_str(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                          "Content-Transfer-Encoding: 8bit\r\n\r\n");
	rc |= buf_append_str(out, t->body);
	return rc ? -1 : 0;
}

bool vault_is_history_mailbox(const char *name)
{
	return strcmp(name, VAULT_HISTORY_MAILBOX) == 0;
}

struct sync_run {
	struct store *store;
	const char *patient;
	char service[300];
	unsigned max, added;
	int64_t last;
	int failed;
	char *err;
	size_t errlen;
};

static int sync_one(const struct vault_history_entry *e, void *arg)
{
	struct sync_run *r = arg;
	struct vault_history_text t;
	struct buf msg;
	const char *zone = store_config(r->store)->timezone;
	buf_init(&msg, BUF_UNLIMITED);
	const char *rcpt[1] = {r->patient};
	struct store_delivery d = {.mail_from = "",
	                           .rcpts = rcpt,
	                           .nrcpt = 1,
	                           .mailbox = VAULT_HISTORY_MAILBOX,
	                           .internal_date = e->time};
	int rc = vault_history_text(r->store, zone, e, &t);
	if (rc == 0)
		rc = vault_history_message(r->service, r->patient, zone, e, &t, &msg);
	if (rc == 0) {
		d.data = msg.data;
		d.len = msg.len;
		rc = store_deliver(r->store, &d, NULL, r->err, r->errlen);
	}
	buf_free(&msg);
	if (rc != 0) {
		r->failed = 1;
		return 1;
	}
	r->last = e->seq;
	r->added++;
	return r->max && r->added >= r->max;
}

static int sync_last(struct sql *db, const char *patient, int64_t *last, char *err, size_t errlen)
{
	*last = 0;
	int rc = sql_one(db, "history.last", "SELECT last_seq FROM vault_history_sync WHERE patient = ?1",
	                 SQL_ARGS(SQL_TEXT(patient)), last, err, errlen);
	return rc < 0 ? -1 : 0;
}

static int sync_save(struct sql *db, const char *patient, int64_t last, char *err, size_t errlen)
{
	return sql_exec(db, "history.save",
	                "INSERT INTO vault_history_sync (patient, last_seq) VALUES (?1, ?2)"
	                " ON CONFLICT (patient) DO UPDATE SET last_seq = excluded.last_seq",
	                SQL_ARGS(SQL_TEXT(patient), SQL_INT(last)), err, errlen) < 0
	           ? -1
	           : 0;
}

/* true when some entry is newer than the last one copied: the common case is "no",
 * answered without a write transaction. */
static int sync_pending(struct sql *db, const char *patient, char *err, size_t errlen)
{
	int64_t last = 0, one;
	if (sync_last(db, patient, &last, err, errlen) != 0)
		return -1;
	return sql_one(db, "history.pending",
	               "SELECT 1 FROM audit_log WHERE patient = ?1" AUDIT_PATIENT_ONLY
	               " AND seq > ?2 LIMIT 1",
	               SQL_ARGS(SQL_TEXT(patient), SQL_INT(last)), &one, err, errlen);
}

int vault_history_sync(struct store *store, const char *patient, unsigned max, char *err, size_t errlen)
{
	struct sql *db = store_sql(store);
	struct sync_run r = {.store = store, .max = max, .err = err, .errlen = errlen};
	char p[256];
	err[0] = '\0';
	if (str_copy(p, sizeof p, patient) != 0)
		return 0; /* longer than any address: no history */
	str_lower(p);
	r.patient = p;
	int pending = sync_pending(db, p, err, errlen);
	if (pending <= 0)
		return pending;
	if (vault_service_address(store_config(store), r.service, sizeof r.service) != 0) {
		str_error(err, errlen, "service address too long");
		return -1;
	}
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	/* read again inside the transaction: another session may have just copied them */
	if (sync_last(db, p, &r.last, err, errlen) != 0 ||
	    vault_history_foreach(store, p, r.last, sync_one, &r) != 0 || r.failed ||
	    (r.added > 0 && sync_save(db, p, r.last, err, errlen) != 0)) {
		if (!r.failed && !err[0])
			str_error(err, errlen, "history: database error");
		sql_rollback(db);
		store_notify_flush(store);
		return -1;
	}
	int rc = sql_commit(db, err, errlen);
	store_notify_flush(store); /* sessions idling on Historique see the new messages */
	return rc != 0 ? -1 : (int)r.added;
}

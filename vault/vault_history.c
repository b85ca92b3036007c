/* vault_history.c: the patient's history, from the audit log. */
#include "vault/vault_history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "vault/vault.h"
#include "vault/vault_mime.h"
#include "store/store.h"
#include "store/store_sql.h"

struct label {
	const char *action;
	const char *ok;      /* shown when the result is ok */
	const char *refused; /* shown otherwise */
};

static const struct label labels[] = {
    {"smtp.rcpt", "Message reçu", "Message refusé"},
    {"smtp.deliver", "Message remis", "Message non remis"},
    {"vault.file", "Document classé", "Document non classé"},
    {"vault.open", "Coffre-fort consulté", "Consultation refusée"},
    {"vault.read", "Document consulté", "Consultation refusée"},
    {"vault.mask", "Document masqué aux professionnels", "Masquage refusé"},
    {"vault.unmask", "Document de nouveau visible", "Démasquage refusé"},
    {"vault.notify", "Notification envoyée", "Notification non envoyée"},
    {"vault.refused", "Tentative d'accès refusée", "Tentative d'accès refusée"},
    {"vault.ko", "Erreur d'intégration signalée à l'expéditeur", "Erreur d'intégration non signalée"},
    {"access.grant", "Accès au coffre-fort accordé", "Accès non accordé"},
    {"access.revoke", "Accès au coffre-fort retiré", "Retrait refusé"},
    {"access.block", "Professionnel bloqué", "Blocage refusé"},
    {"access.unblock", "Professionnel débloqué", "Déblocage refusé"},
    {"imap.login", "Connexion à la messagerie", "Connexion refusée"},
    {"imap.acl", "Droits modifiés", "Modification des droits refusée"},
};

static void label_of(const struct audit_record *r, char *out, size_t outlen)
{
	bool ok = strcmp(r->result, "ok") == 0;
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		if (strcmp(labels[i].action, r->action) == 0) {
			str_copy(out, outlen, ok ? labels[i].ok : labels[i].refused);
			return;
		}
	}
	str_copy(out, outlen, r->action);
}

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
	str_copy(e.who, sizeof e.who, r->actor);
	label_of(r, e.what, sizeof e.what);
	/* For access changes the target is the professional, already in "who"'s sentence:
	 * show them as the object. For the rest, the document or folder. */
	str_copy(e.document, sizeof e.document, r->target);
	str_copy(e.result, sizeof e.result, r->result);
	str_copy(e.action, sizeof e.action, r->action);
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
	str_format(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	           tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int date_header(struct buf *b, int64_t t)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	return buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int vault_history_message(const char *service_address, const char *patient,
                          const struct vault_history_entry *e, struct buf *out)
{
	char when[32], subject[512], msgid[300], text[2048];
	const char *domain = strchr(service_address, '@');
	int rc = 0;

	vault_history_time(e->time, when, sizeof when);
	str_format(subject, sizeof subject, "%s : %s", e->what, e->who);
	str_format(msgid, sizeof msgid, "<history.%lld%s>", (long long)e->seq, domain ? domain : "@mss");
	str_format(text, sizeof text,
	           "Quand : %s (UTC)\r\nQui : %s\r\nQuoi : %s\r\nDocument : %s\r\nRésultat : %s\r\n", when,
	           e->who, e->what, e->document[0] ? e->document : "-", e->result);
	rc |= mime_header(out, "From", service_address);
	rc |= mime_header(out, "To", patient);
	rc |= date_header(out, e->time);
	rc |= mime_header(out, "Subject", subject);
	rc |= mime_header(out, "Message-ID", msgid);
	rc |= buf_append_str(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                          "Content-Transfer-Encoding: 8bit\r\n\r\n");
	rc |= buf_append_str(out, text);
	return rc ? -1 : 0;
}

bool vault_is_history_mailbox(const char *name)
{
	return strcmp(name, VAULT_HISTORY_MAILBOX) == 0;
}

/* "Dr Jean Martin (dr.martin@pro.mss.test)" when the account or the national
 * directory names the actor, else the address as recorded. */
static void who_display(struct store *st, const char *who, char *out, size_t outlen)
{
	struct account a;
	struct dir_entry *d = xcalloc(1, sizeof *d);
	char name[300] = "";
	if (strchr(who, '@') != NULL) {
		if (account_get(st, who, &a) == 1 && a.name[0])
			str_copy(name, sizeof name, a.name);
		else if (dir_entry_get(st, who, d) == 1 && (d->last_name[0] || d->first_name[0]))
			str_format(name, sizeof name, "%s%s%s", d->first_name, d->first_name[0] ? " " : "",
			           d->last_name);
	}
	free(d);
	if (name[0] && str_format(out, outlen, "%s (%s)", name, who) == 0)
		return;
	str_copy(out, outlen, who);
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
	struct vault_history_entry shown = *e;
	struct buf msg;
	who_display(r->store, e->who, shown.who, sizeof shown.who);
	buf_init(&msg, BUF_UNLIMITED);
	const char *rcpt[1] = {r->patient};
	struct store_delivery d = {.mail_from = "",
	                           .rcpts = rcpt,
	                           .nrcpt = 1,
	                           .mailbox = VAULT_HISTORY_MAILBOX,
	                           .internal_date = e->time};
	int rc = vault_history_message(r->service, r->patient, &shown, &msg);
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
	               "SELECT 1 FROM audit_log WHERE patient = ?1 AND seq > ?2 LIMIT 1",
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
		str_copy(err, errlen, "service address too long");
		return -1;
	}
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	/* read again inside the transaction: another session may have just copied them */
	if (sync_last(db, p, &r.last, err, errlen) != 0 ||
	    vault_history_foreach(store, p, r.last, sync_one, &r) != 0 || r.failed ||
	    (r.added > 0 && sync_save(db, p, r.last, err, errlen) != 0)) {
		if (!r.failed && !err[0])
			str_copy(err, errlen, "history: database error");
		sql_rollback(db);
		store_notify_flush(store);
		return -1;
	}
	int rc = sql_commit(db, err, errlen);
	store_notify_flush(store); /* sessions idling on Historique see the new messages */
	return rc != 0 ? -1 : (int)r.added;
}

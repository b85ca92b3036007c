/* vault_history.c: the patient's history, from the audit log. */
#include "policy/vault_history.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"
#include "policy/audit.h"
#include "policy/vault_mime.h"

struct label {
	const char *action;
	const char *ok;      /* shown when the result is ok */
	const char *refused; /* shown otherwise */
};

static const struct label labels[] = {
	{"smtp.rcpt", "Message annoncé", "Message refusé"},
	{"smtp.deliver", "Message reçu", "Message non remis"},
	{"vault.file", "Document classé", "Document non classé"},
	{"vault.open", "Coffre-fort consulté", "Consultation refusée"},
	{"vault.read", "Document consulté", "Consultation refusée"},
	{"vault.mask", "Document masqué aux professionnels", "Masquage refusé"},
	{"vault.unmask", "Document de nouveau visible", "Démasquage refusé"},
	{"vault.notify", "Notification envoyée", "Notification non envoyée"},
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

int vault_history_foreach(sqlite3 *db, const char *patient, int64_t after_seq,
			  int (*fn)(const struct vault_history_entry *e, void *arg), void *arg)
{
	char p[256];
	struct walk w = {fn, arg};
	str_copy(p, sizeof p, patient);
	str_lower(p);
	return audit_foreach_patient(db, p, after_seq, one, &w);
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

int vault_history_message(const char *service_address, const char *patient, const struct vault_history_entry *e,
			  struct buf *out)
{
	char when[32], subject[512], msgid[300], text[2048];
	const char *domain = strchr(service_address, '@');
	int rc = 0;

	vault_history_time(e->time, when, sizeof when);
	str_format(subject, sizeof subject, "%s : %s", e->what, e->who);
	str_format(msgid, sizeof msgid, "<history.%lld%s>", (long long)e->seq, domain ? domain : "@mss");
	str_format(text, sizeof text, "Quand : %s (UTC)\r\nQui : %s\r\nQuoi : %s\r\nDocument : %s\r\nRésultat : %s\r\n",
		   when, e->who, e->what, e->document[0] ? e->document : "-", e->result);
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

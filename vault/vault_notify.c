/* vault_notify.c: notifications to the patient (INBOX message, notify_command). */
#include "vault/vault_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "directory/account.h"
#include "lib/buf.h"
#include "lib/localtime.h"
#include "lib/sql.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "vault/vault.h"
#include "vault/vault_mime.h"
#include "vault/vault_people.h"
#include "vault/vault_settings.h"
#include "store/store_sql.h"

/* The service sends every notice (actor "mss"); whom it is about goes in the detail. */
static void audit_notice(struct store *store, const char *patient, const char *kind, const char *about,
                         const char *result)
{
	char detail[400], err[256];
	str_assert(str_format(detail, sizeof detail, "kind=%s%s%s", kind, about ? " about=" : "",
	                      about ? about : ""),
	           "a kind and an address (256 bytes) fit 400");
	struct audit_event ev = {.actor = "mss",
	                         .auth = "local",
	                         .action = "vault.notify",
	                         .target = patient,
	                         .detail = detail,
	                         .result = result,
	                         .peer = "",
	                         .patient = patient};
	if (audit_append(store, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=vault.notify error=\"%s\"", err);
}

/* Stores a short text message from the service address into the patient's INBOX. */
static int deliver_notice(struct store *store, const char *patient, const char *subject, const char *text)
{
	const struct mss_config *cfg = store_config(store);
	char from[300], id[33], msgid[400], err[256], boundary[33], date[64];
	struct buf b;
	int rc = 0;

	vault_service_address(cfg, from, sizeof from);
	mime_random_token(id);
	mime_random_token(boundary);
	str_assert(str_format(msgid, sizeof msgid, "<notice.%s@%s>", id, cfg->patient_domain),
	           "32 bytes and a configured domain (CONFIG_STR_MAX) fit 400");
	buf_init(&b, BUF_UNLIMITED);
	rc |= mime_header(&b, "From", from);
	rc |= mime_header(&b, "To", patient);
	mss_date_rfc5322(cfg->timezone, (int64_t)time(NULL), date, sizeof date);
	rc |= mime_header(&b, "Date", date);
	rc |= mime_header(&b, "Subject", subject);
	rc |= mime_header(&b, "Message-ID", msgid);
	rc |= mime_header(&b, "Auto-Submitted", "auto-generated");
	rc |= buf_printf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n",
	                 boundary);
	rc |= mime_text_part(&b, boundary, text);
	rc |= buf_printf(&b, "--%s--\r\n", boundary);
	const char *rcpt[1] = {patient};
	struct store_delivery d = {.mail_from = "", .rcpts = rcpt, .nrcpt = 1, .data = b.data, .len = b.len};
	if (rc == 0 && store_deliver(store, &d, NULL, err, sizeof err) != 0) {
		log_err("vault_notice_failed", "patient=%s error=\"%s\"", patient, err);
		rc = -1;
	}
	buf_free(&b);
	return rc ? -1 : 0;
}

/* "- Biologie, de Dr Martin : dossier Documents/Biologie"; when the metadata name
 * another author, both: who the document says wrote it, and who sent it. */
static int notice_line(struct buf *t, const struct vault_notice_item *it)
{
	int rc = buf_printf(t, "- %s%s, ", it->class_name, it->changed ? " (mise à jour)" : "");
	if (it->author[0] && strcmp(it->author, it->sender) != 0)
		rc |= buf_printf(t, "auteur %s (selon le document), envoyé par %s", it->author, it->sender);
	else
		rc |= buf_printf(t, "de %s", it->sender);
	return rc | buf_printf(t, " : dossier Documents/%s\n", it->class_name);
}

int vault_notify_documents(struct store *store, const char *patient, const struct vault_notice_item *items,
                           size_t n)
{
	const char *kind = NULL;
	int rc = vault_notice_documents(store, patient, items, n, &kind);
	if (kind != NULL)
		vault_notify_command(store_config(store), kind, patient);
	return rc;
}

int vault_notice_documents(struct store *store, const char *patient, const struct vault_notice_item *items,
                           size_t n, const char **command_kind)
{
	struct buf t;
	*command_kind = NULL;
	bool all_changed = true;
	for (size_t i = 0; i < n; i++)
		all_changed &= items[i].changed;
	const char *kind = all_changed ? "document.changed" : "document.added";
	struct vault_settings set;
	vault_settings_get(store, patient, &set);
	if (!set.notify_documents)
		return 0; /* the patient turned these off (vault_settings.h) */
	buf_init(&t, 256 * 1024);
	int rc = buf_printf(
	    &t, "Bonjour,\n\n%s dans votre coffre-fort :\n\n",
	    all_changed
	        ? (n > 1 ? "Des documents ont été mis à jour" : "Un document a été mis à jour")
	        : (n > 1 ? "De nouveaux documents ont été ajoutés" : "Un nouveau document a été ajouté"));
	for (size_t i = 0; i < n; i++)
		rc |= notice_line(&t, &items[i]);
	rc |= buf_append_str(
	    &t, "\nCe message ne contient aucun document : consultez-les dans votre messagerie.\n");
	if (rc != 0) { /* never a notice that lists some of the documents as if they were all */
		buf_free(&t);
		audit_notice(store, patient, kind, NULL, "error: notice longer than 256 KiB");
		return -1;
	}
	rc = deliver_notice(store, patient,
	                    all_changed ? "Document mis à jour dans votre coffre-fort"
	                                : "Nouveau document dans votre coffre-fort",
	                    t.data);
	buf_free(&t);
	audit_notice(store, patient, kind, NULL, rc == 0 ? "ok" : "error: not stored");
	*command_kind = kind;
	return rc;
}

/* Claims the right to notify (pro, patient) now, in one write transaction so that two
 * sessions opening the vault at once send one notice. Returns 1 claimed, 0 too soon, -1. */
static int claim_locked(struct sql *db, const char *patient, const char *pro, unsigned interval, char *err,
                        size_t errlen)
{
	int64_t now = (int64_t)time(NULL), last = -1;
	int r = sql_one(db, "vault.notice_last",
	                "SELECT last FROM vault_notice WHERE patient = ?1 AND professional = ?2",
	                SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(pro)), &last, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1 && interval > 0 && now - last < (int64_t)interval)
		return 0;
	if (sql_exec(db, "vault.notice_claim",
	             "INSERT INTO vault_notice (patient, professional, last) VALUES (?1, ?2, ?3)"
	             " ON CONFLICT (patient, professional) DO UPDATE SET last = excluded.last",
	             SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(pro), SQL_INT(now)), err, errlen) < 0)
		return -1;
	return 1;
}

static int claim_notice(struct sql *db, const char *patient, const char *pro, unsigned interval)
{
	char err[256];
	if (sql_begin_write(db, err, sizeof err) != 0) {
		log_err("vault_notice", "error=\"%s\"", err);
		return -1;
	}
	int r = claim_locked(db, patient, pro, interval, err, sizeof err);
	if (r == 1 && sql_commit(db, err, sizeof err) != 0)
		r = -1;
	else if (r != 1)
		sql_rollback(db);
	if (r < 0)
		log_err("vault_notice", "error=\"%s\"", err);
	return r;
}

int vault_notify_access(struct store *store, const char *patient, const char *professional)
{
	const struct mss_config *cfg = store_config(store);
	char text[2048], who[400], when[64];
	struct vault_settings set;
	vault_settings_get(store, patient, &set);
	if (!set.notify_access)
		return 0; /* the patient turned these off (vault_settings.h) */
	int r = claim_notice(store_sql(store), patient, professional, cfg->notify_access_interval);
	if (r <= 0)
		return r;
	vault_person_display(store, professional, who, sizeof who);
	mss_date_french(cfg->timezone, (int64_t)time(NULL), false, when, sizeof when);
	/* How to withdraw, concretely: with the mail client the patient has (RFC 4314 ACL,
	 * shown as "Partage" / "Droits d'accès" by the clients that support it), else by
	 * asking the service (mssctl access revoke). */
	str_assert(
	    str_format(
	        text, sizeof text,
	        "Bonjour,\n\n%s a ouvert votre coffre-fort de documents %s.\n\n"
	        "Vous pouvez voir l'historique des consultations dans le dossier Historique de votre "
	        "messagerie.\n\n"
	        "Pour retirer cet accès : dans votre logiciel de messagerie, ouvrez les propriétés du "
	        "dossier « Documents », onglet « Partage » ou « Droits d'accès », et retirez %s "
	        "(commande IMAP : DELETEACL Documents %s). Si votre logiciel ne le propose pas, demandez "
	        "le retrait à votre service de messagerie en indiquant cette adresse.\n",
	        who, when, professional, professional),
	    "700 bytes of text, a 400-byte name, a date and two 256-byte addresses fit 2048");
	int rc = deliver_notice(store, patient, "Consultation de votre coffre-fort", text);
	audit_notice(store, patient, "vault.opened", professional, rc == 0 ? "ok" : "error: not stored");
	vault_notify_command(cfg, "vault.opened", patient);
	return rc == 0 ? 1 : -1;
}

static void child_exec(const char *cmd, const char *kind, const char *patient)
{
	/* The command gets nothing of the session: /dev/null for stdin, stdout and stderr
	 * (stderr is the daemon's log under -d) and no other descriptor, whether or not
	 * it was opened close-on-exec (issue 12). */
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		_exit(127);
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close_range(3, ~0U, 0);
	setpgid(0, 0);
	char *const argv[] = {(char *)cmd, (char *)kind, (char *)patient, NULL};
	execv(cmd, argv);
	_exit(127);
}

/* Waits for pid up to timeout seconds; kills its process group after that. */
static int wait_bounded(pid_t pid, unsigned timeout, int *status)
{
	struct timespec step = {0, 20 * 1000 * 1000};
	unsigned long waited_ms = 0;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return errno == ECHILD ? 0 : -1; /* SIGCHLD ignored: reaped for us */
		if (waited_ms >= (unsigned long)timeout * 1000) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return 1;
		}
		nanosleep(&step, NULL);
		waited_ms += 20;
	}
}

int vault_notify_command(const struct mss_config *cfg, const char *kind, const char *patient)
{
	int status = 0;
	if (!cfg->notify_command[0])
		return 0;
	pid_t pid = fork();
	if (pid < 0) {
		log_err("notify_command", "kind=%s result=error error=fork", kind);
		return -1;
	}
	if (pid == 0)
		child_exec(cfg->notify_command, kind, patient);
	setpgid(pid, pid); /* also in the child: whichever runs first, the group exists */
	int w = wait_bounded(pid, cfg->notify_timeout, &status);
	if (w == 1) {
		log_warn("notify_command", "kind=%s patient=%s result=timeout seconds=%u", kind, patient,
		         cfg->notify_timeout);
		return -1;
	}
	if (w < 0 || (WIFEXITED(status) && WEXITSTATUS(status) != 0) || WIFSIGNALED(status)) {
		log_warn("notify_command", "kind=%s patient=%s result=failed status=%d", kind, patient,
		         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	log_info("notify_command", "kind=%s patient=%s result=ok", kind, patient);
	return 0;
}

int vault_notify_inactive(struct store *store, const char *address, int64_t delete_after)
{
	const struct mss_config *cfg = store_config(store);
	char when[64], text[1024];
	mss_date_rfc5322(cfg->timezone, delete_after, when, sizeof when);
	if (str_format(text, sizeof text,
	               "Votre messagerie de santé n'a pas été utilisée depuis "
	               "longtemps.\r\n"
	               "Sans connexion de votre part, elle sera supprimée avec son contenu "
	               "après le %s, selon les règles de conservation des données.\r\n"
	               "Pour la conserver, il suffit de vous connecter.\r\n\r\n"
	               "Your health mailbox has not been used for a long time. Unless you log in, it will "
	               "be deleted with its content after %s.\r\n",
	               when, when) != 0)
		return -1;
	int rc = deliver_notice(store, address, "Votre messagerie sera supprimée sans connexion", text);
	audit_notice(store, address, "account.inactive", NULL, rc == 0 ? "ok" : "failed");
	vault_notify_command(cfg, "account.inactive", address);
	return rc;
}

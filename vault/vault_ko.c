/* vault_ko.c: the integration error report sent back to a document's sender.
 *
 * The service's format: an MDN (RFC 8098, multipart/report) whose subject begins
 * "[KO Intégration système !][<code>]" before the original subject, with
 * "Disposition: automatic-action/MDN-sent-automatically; processed/Error:
 * <code>^<label>", and the original attachments concerned. It also says when parts of
 * the message were withheld from the patient's copy without being filed (they could
 * not be inspected): the sender must know the patient did not get them. It is
 * delivered to the sender's mailbox when the sender is local; a sender at another
 * operator of the trust space gets it through the outbound queue (queue/queue.h, with
 * the null sender <>: a report never causes another, RFC 3464 and RFC 5321 6.1);
 * anyone else is audited as not sent. */
#include "vault/vault_ko.h"

#include <string.h>

#include <sodium.h>
#include <time.h>

#include "audit/audit.h"
#include "directory/trust.h"
#include "queue/queue.h"
#include "directory/account.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/dsn.h"
#include "lib/str.h"
#include "vault/vault.h"
#include "vault/vault_int.h"
#include "vault/vault_mime.h"

const char *vault_ko_label(int code)
{
	switch (code) {
	case 900:
		return "Version incorrecte pour un remplacement ou une suppression";
	case 901:
		return "Auteur non autorise a remplacer ou supprimer";
	case 902:
		return "Patient inconnu";
	case 903:
		return "Pas d'INS dans le document";
	case 904:
		return "INS du document different de celui du patient destinataire";
	case 905:
		return "INS incomplet";
	default:
		return "Autre erreur d'integration";
	}
}

static int report_text(struct buf *t, const struct vault_ko *ko)
{
	int rc = buf_printf(t, "Le message adressé à %s a bien été remis, mais ", ko->patient);
	if (ko->refused)
		rc |= buf_append_str(
		    t, "un ou plusieurs documents n'ont pas pu être intégrés à son coffre-fort.\n\n");
	else
		rc |= buf_append_str(t, "tout ce qu'il contenait n'a pas pu lui être transmis.\n\n");
	rc |= buf_printf(t, "Code %d : %s.\n\n", ko->code, vault_ko_label(ko->code));
	if (ko->withheld)
		rc |= buf_append_str(
		    t, "Une ou plusieurs pièces jointes n'ont pas pu être vérifiées (limites de taille, "
		       "de nombre ou de structure, ou message transféré) : par précaution, elles "
		       "n'ont pas été transmises au patient ni classées dans son coffre-fort.\n\n");
	rc |= buf_append_str(t, ko->nattach ? "Les pièces jointes concernées sont jointes.\n"
	                                    : "Les pièces jointes concernées n'ont pas pu être jointes.\n");
	return rc;
}

static int report_parts(struct buf *b, const char *boundary, const struct vault_ko *ko, const char *host)
{
	struct buf t;
	buf_init(&t, 64 * 1024);
	int rc = report_text(&t, ko) | mime_text_part(b, boundary, t.data);
	buf_free(&t);
	if (rc != 0)
		return -1;
	return buf_printf(
	    b,
	    "--%s\r\nContent-Type: message/disposition-notification\r\n\r\n"
	    "Reporting-UA: %s; MSS\r\nFinal-Recipient: rfc822;%s\r\n%s%s%s"
	    "Disposition: automatic-action/MDN-sent-automatically; processed/Error: %d^%s\r\n\r\n",
	    boundary, host, ko->patient, ko->message_id[0] ? "Original-Message-ID: <" : "", ko->message_id,
	    ko->message_id[0] ? ">\r\n" : "", ko->code, vault_ko_label(ko->code));
}

static int build_ko(struct buf *b, const struct mss_config *cfg, const char *to, const struct vault_ko *ko)
{
	char from[300], subject[1300], boundary[33], id[33], msgid[400];
	int rc = 0;
	vault_service_address(cfg, from, sizeof from);
	mime_random_token(boundary);
	mime_random_token(id);
	str_assert(str_format(msgid, sizeof msgid, "<ko.%s@%s>", id, cfg->patient_domain),
	           "32 bytes and a configured domain (CONFIG_STR_MAX) fit 400");
	str_assert(
	    str_format(subject, sizeof subject, "[KO Intégration système !][%d] %s", ko->code, ko->subject),
	    "the original subject (msg_header.subject, 1024 bytes; vault_ko.h) and 40 bytes fit 1300");
	rc |= mime_header(b, "From", from);
	rc |= mime_header(b, "To", to);
	rc |= mime_date_header(b);
	rc |= mime_header(b, "Subject", subject);
	rc |= mime_header(b, "Message-ID", msgid);
	rc |= mime_header(b, "Auto-Submitted", "auto-replied");
	rc |= buf_printf(
	    b,
	    "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification;"
	    "\r\n\tboundary=\"%s\"\r\n\r\n",
	    boundary);
	rc |= report_parts(b, boundary, ko, cfg->hostname[0] ? cfg->hostname : "mss");
	for (size_t i = 0; i < ko->nattach; i++)
		rc |= mime_attachment(b, boundary, ko->attach[i].mime, ko->attach[i].filename,
		                      ko->attach[i].data, ko->attach[i].len);
	rc |= buf_printf(b, "--%s--\r\n", boundary);
	return rc ? -1 : 0;
}

static void audit_ko(struct store *store, const char *sender, const char *patient, int code,
                     const char *result)
{
	char detail[64], err[256];
	str_assert(str_format(detail, sizeof detail, "code=%d", code), "an int fits 64 bytes");
	struct audit_event ev = {.actor = "mss",
	                         .auth = "local",
	                         .action = "vault.ko",
	                         .target = sender,
	                         .detail = detail,
	                         .result = result,
	                         .peer = "",
	                         .patient = patient};
	if (audit_append(store, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=vault.ko error=\"%s\"", err);
}

/* A sender at another operator of the trust space: the report leaves through the
 * outbound queue. Returns 0 queued, 1 not a trust-space sender, -1 error. */
static int queue_ko(struct store *store, const struct vault_ko *ko)
{
	const char *domain = str_address_domain(ko->sender);
	char err[256], qid[QUEUE_ID_SIZE];
	unsigned char r[6];
	if (!ko->sender[0] || config_is_local_domain(store_config(store), domain) ||
	    trust_domain_known(store, domain) != 1)
		return 1;
	randombytes_buf(r, sizeof r);
	str_hex(qid, r, sizeof r);
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int rc = build_ko(&b, store_config(store), ko->sender, ko);
	const char *rcpt[1] = {ko->sender};
	struct queue_put qp = {.qid = qid,
	                       .mail_from = "",
	                       .account = "",
	                       .rcpts = rcpt,
	                       .nrcpt = 1,
	                       .data = b.data,
	                       .len = b.len,
	                       .now = (int64_t)time(NULL)};
	if (rc == 0 && queue_put(store, &qp, NULL, err, sizeof err) != 0) {
		log_err("vault_ko_failed", "qid=%s error=\"%s\"", qid, err);
		rc = -1;
	}
	buf_free(&b);
	audit_ko(store, ko->sender, ko->audit_patient, ko->code,
	         rc == 0 ? "ok: queued for the trust space" : "error: not queued");
	return rc == 0 ? 0 : -1;
}

int vault_send_ko(struct store *store, const struct vault_ko *ko)
{
	char err[256];
	struct account a;
	if (!dsn_notify_wants(ko->notify, DSN_NOTIFY_FAILURE)) {
		audit_ko(store, ko->sender[0] ? ko->sender : "<>", ko->audit_patient, ko->code,
		         "not sent: the sender's NOTIFY asked for no failure report (RFC 3461)");
		return 1;
	}
	int q = queue_ko(store, ko);
	if (q <= 0)
		return q;
	if (!ko->sender[0] || account_get(store, ko->sender, &a) != 1 ||
	    store_user_exists(store, a.address) != 1) {
		audit_ko(store, ko->sender[0] ? ko->sender : "<>", ko->audit_patient, ko->code,
		         "not sent: the sender has no mailbox here");
		return 1;
	}
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int rc = build_ko(&b, store_config(store), a.address, ko);
	const char *rcpt[1] = {a.address};
	struct store_delivery d = {.mail_from = "", .rcpts = rcpt, .nrcpt = 1, .data = b.data, .len = b.len};
	if (rc == 0 && store_deliver(store, &d, NULL, err, sizeof err) != 0) {
		log_err("vault_ko_failed", "sender=%s error=\"%s\"", a.address, err);
		rc = -1;
	}
	buf_free(&b);
	audit_ko(store, a.address, ko->audit_patient, ko->code, rc == 0 ? "ok" : "error: not stored");
	return rc;
}

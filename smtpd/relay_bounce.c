/* relay_bounce.c: the relay's delivery status notifications (relay_bounce.h). */
#include "smtpd/relay_bounce.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "directory/trust.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "queue/queue.h"

#define HEADER_MAX 65536 /* the original header kept in a report */

/* "d.ddd.ddd" with the given class digit (RFC 3463 2). */
static size_t status_len(const char *p, char cls)
{
	size_t n = 0;
	if (p[0] != cls || p[1] != '.')
		return 0;
	n = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = strspn(p + n, "0123456789");
		if (d == 0 || d > 3)
			return 0;
		n += d;
		if (part == 0) {
			if (p[n] != '.')
				return 0;
			n++;
		}
	}
	return p[n] == '\0' || p[n] == ' ' ? n : 0;
}

/* The status class of each action (RFC 3463 3.1), its default status, and the words
 * of the report: its Action field, its audit action. */
static const struct action_words {
	char cls;
	const char *status, *action, *audit;
	const char *subject; /* French / English, US-ASCII (a header field) */
} action_words[] = {
    [RELAY_ACTION_FAILED] = {'5', "5.0.0", "failed", "relay.bounce", "Message non remis / Undelivered mail"},
    [RELAY_ACTION_DELAYED] = {'4', "4.0.0", "delayed", "relay.delay", "Message retarde / Delayed mail"},
    [RELAY_ACTION_DELIVERED] = {'2', "2.0.0", "delivered", "dsn.success", "Message remis / Delivered mail"},
    [RELAY_ACTION_RELAYED] = {'2', "2.0.0", "relayed", "dsn.success", "Message transmis / Relayed mail"},
};

void relay_report_status(const char *reply, enum relay_action action, char out[16])
{
	char cls = action_words[action].cls;
	const char *p = reply;
	/* "550 5.1.1 text": the code, then the enhanced status of the same class */
	if (strlen(p) > 4 && isdigit((unsigned char)p[0]) && p[3] == ' ')
		p += 4;
	size_t n = status_len(p, cls);
	if (n > 0 && n < 16) {
		memcpy(out, p, n);
		out[n] = '\0';
		return;
	}
	str_assert(str_copy(out, 16, action_words[action].status), "a short constant");
}

/* The human-readable part: the same paragraph and list in French, then in English.
 * Plain texts, not formats: the queue id and the addresses are written apart. */
struct report_language {
	const char *message; /* "Your message", before the queue id */
	const char *said[4]; /* the rest of the paragraph, after the queue id, by action */
	const char *colon;   /* between an address and its reply (French puts a space before) */
};

static const struct report_language report_languages[] = {
    {.message = "Votre message",
     .said = {[RELAY_ACTION_FAILED] = "n'a pas pu être remis au(x) destinataire(s) ci-dessous. Il ne "
                                      "sera plus envoyé.",
              [RELAY_ACTION_DELAYED] = "n'a pas encore pu être remis au(x) destinataire(s) ci-dessous. "
                                       "De nouvelles tentatives auront lieu ; vous serez prévenu s'il "
                                       "ne peut être remis.",
              [RELAY_ACTION_DELIVERED] = "a été remis au(x) destinataire(s) ci-dessous.",
              [RELAY_ACTION_RELAYED] = "a été transmis au serveur du ou des destinataire(s) ci-dessous, "
                                       "qui ne confirmera pas sa remise."},
     .colon = " :"},
    {.message = "Your message",
     .said = {[RELAY_ACTION_FAILED] = "could not be delivered to the recipient(s) below. It will not "
                                      "be sent again.",
              [RELAY_ACTION_DELAYED] = "could not be delivered yet to the recipient(s) below. Delivery "
                                       "will be tried again; you will be told if it fails.",
              [RELAY_ACTION_DELIVERED] = "was delivered to the recipient(s) below.",
              [RELAY_ACTION_RELAYED] = "was handed to the server of the recipient(s) below, which will "
                                       "not confirm its delivery."},
     .colon = ":"},
};

static int text_paragraph(struct buf *b, const struct relay_report *r, const struct report_language *l)
{
	int rc = buf_printf(b, "%s (%s) %s\r\n\r\n", l->message, r->qid, l->said[r->action]);
	for (size_t i = 0; i < r->n; i++)
		rc |= buf_printf(b, "  <%s>%s %s\r\n", r->rcpts[i].rcpt, l->colon, r->rcpts[i].reply);
	return rc;
}

static int text_part(struct buf *b, const struct relay_report *r, const char *boundary)
{
	int rc = buf_printf(
	    b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
	    boundary);
	for (size_t i = 0; i < sizeof report_languages / sizeof report_languages[0]; i++)
		rc |= (i > 0 ? buf_append_str(b, "\r\n") : 0) | text_paragraph(b, r, &report_languages[i]);
	return rc;
}

static bool has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* RFC 6533: a report about an SMTPUTF8 message (a UTF-8 address or header field) is a
 * global one: message/global-delivery-status, "utf-8" addresses, message/global-headers. */
static bool report_is_global(const struct relay_report *r, const char *header, size_t hlen)
{
	bool global = has_8bit(header, hlen) || has_8bit(r->mail_from, strlen(r->mail_from));
	for (size_t i = 0; i < r->n && !global; i++)
		global = has_8bit(r->rcpts[i].rcpt, strlen(r->rcpts[i].rcpt));
	return global;
}

/* One recipient's fields (RFC 3464 2.3), Original-Recipient first when ORCPT gave it. */
static int recipient_fields(struct buf *b, const struct relay_report *r, const struct relay_failure *f,
                            const char *last)
{
	/* RFC 6533 3: a UTF-8 address is of type utf-8 (raw, in a global report) */
	const char *type = has_8bit(f->rcpt, strlen(f->rcpt)) ? "utf-8" : "rfc822";
	char status[16];
	int rc = 0;
	if (f->expired && r->action == RELAY_ACTION_FAILED)
		str_assert(str_copy(status, sizeof status, "5.4.7"), "a short constant");
	else
		relay_report_status(f->reply, r->action, status);
	if (f->orcpt && f->orcpt[0])
		rc |= buf_printf(b, "\r\nOriginal-Recipient: %s", f->orcpt);
	rc |= buf_printf(b, "\r\nFinal-Recipient: %s; %s\r\nAction: %s\r\nStatus: %s\r\n", type, f->rcpt,
	                 action_words[r->action].action, status);
	if (r->remote_mta[0])
		rc |= buf_printf(b, "Remote-MTA: dns; %s\r\n", r->remote_mta);
	if (f->reply[0]) {
		/* a remote SMTP reply (3 digits) is "smtp;", our own reason is "x-mss;" */
		bool smtp = isdigit((unsigned char)f->reply[0]) != 0;
		rc |= buf_printf(b, "Diagnostic-Code: %s; %s\r\n", smtp ? "smtp" : "x-mss", f->reply);
	}
	rc |= buf_printf(b, "Last-Attempt-Date: %s\r\n", last);
	return rc;
}

static int status_part(struct buf *b, const struct mss_config *cfg, const struct relay_report *r,
                       const char *boundary, int64_t now, bool global)
{
	char arrival[64], last[64];
	mss_date_rfc5322("UTC", r->created, arrival, sizeof arrival);
	mss_date_rfc5322("UTC", now, last, sizeof last);
	int rc = buf_printf(b, "\r\n--%s\r\nContent-Type: message/%sdelivery-status\r\n\r\n", boundary,
	                    global ? "global-" : "");
	/* RFC 3464 2.2: Original-Envelope-Id comes first of the per-message fields */
	if (r->envid && r->envid[0])
		rc |= buf_printf(b, "Original-Envelope-Id: %s\r\n", r->envid);
	rc |= buf_printf(b, "Reporting-MTA: dns; %s\r\nX-MSS-Queue-ID: %s\r\nArrival-Date: %s\r\n",
	                 cfg->hostname, r->qid, arrival);
	for (size_t i = 0; i < r->n; i++)
		rc |= recipient_fields(b, r, &r->rcpts[i], last);
	return rc;
}

/* The report's author domain: the first of domains, for which the trust list names this
 * operator, so that a report leaving for another operator passes its author check
 * (auth/identity.h); the hostname when domains is empty. */
static void report_domain(const struct mss_config *cfg, char out[MSS_DOMAIN_SIZE])
{
	const char *p = cfg->domains + strspn(cfg->domains, " ,\t");
	size_t n = strcspn(p, " ,\t");
	if (n == 0 || n >= MSS_DOMAIN_SIZE) {
		p = cfg->hostname;
		n = strnlen(p, MSS_DOMAIN_SIZE - 1);
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

int relay_report_build(const struct mss_config *cfg, const struct relay_report *r, const char *header,
                       size_t hlen, int64_t now, struct buf *out)
{
	char domain[MSS_DOMAIN_SIZE];
	report_domain(cfg, domain);
	unsigned char rnd[12];
	char boundary[32], date[64], msgid[64];
	randombytes_buf(rnd, sizeof rnd);
	str_hex(boundary, rnd, sizeof rnd);
	mss_date_rfc5322(cfg->timezone, now, date, sizeof date);
	if (str_format(msgid, sizeof msgid, "%.16s.%s", boundary, r->qid) != 0)
		return -1;
	bool global = report_is_global(r, header, hlen);
	int rc = buf_printf(
	    out,
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nDate: %s\r\n"
	    "Subject: %s\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=%sdelivery-status;\r\n boundary=\"%s\"\r\n\r\n"
	    "This is a delivery status notification (RFC 3464).\r\n\r\n",
	    domain, r->mail_from, date, action_words[r->action].subject, msgid, cfg->hostname,
	    global ? "global-" : "", boundary);
	rc |= text_part(out, r, boundary);
	rc |= status_part(out, cfg, r, boundary, now, global);
	rc |= buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary,
	                 global ? "message/global-headers" : "text/rfc822-headers");
	rc |= buf_append(out, header, hlen);
	if (hlen < 2 || memcmp(header + hlen - 2, "\r\n", 2) != 0)
		rc |= buf_append_str(out, "\r\n");
	rc |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	return rc ? -1 : 0;
}

/* The header block of the queued message (cut at HEADER_MAX, on a line end). */
static size_t header_len(const char *data, size_t len)
{
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	size_t n = end ? (size_t)(end - data) + 2 : len;
	if (n > HEADER_MAX) {
		n = HEADER_MAX;
		while (n > 0 && data[n - 1] != '\n')
			n--;
	}
	return n;
}

struct report_audit {
	struct store *st;
	const struct relay_report *r;
};

static int audit_report(void *arg, char *err, size_t errlen)
{
	const struct report_audit *a = arg;
	char detail[256];
	if (str_format(detail, sizeof detail, "qid=%s rcpts=%zu", a->r->qid, a->r->n) != 0)
		detail[0] = '\0';
	struct audit_event ev = {.actor = "mss-smtpd",
	                         .auth = "relay",
	                         .action = action_words[a->r->action].audit,
	                         .target = a->r->mail_from,
	                         .detail = detail,
	                         .result = "ok",
	                         .peer = "",
	                         .patient = ""};
	return audit_append(a->st, &ev, err, errlen);
}

/* Queues the report for a sender at another operator (as vault_ko.c does): from <>, so
 * that it never causes a report itself; a global report (RFC 6533) needs SMTPUTF8 on
 * its way. Returns 0, 1 when the sender's domain is not in the trust list, -1. */
static int queue_report(struct store *st, const struct relay_report *r, const struct buf *msg, bool global,
                        struct report_audit *a, char *err, size_t errlen)
{
	unsigned char rnd[6];
	char qid[QUEUE_ID_SIZE];
	if (trust_domain_known(st, str_address_domain(r->mail_from)) != 1)
		return 1;
	randombytes_buf(rnd, sizeof rnd);
	str_hex(qid, rnd, sizeof rnd);
	const char *to[1] = {r->mail_from};
	struct queue_put qp = {.qid = qid,
	                       .mail_from = "",
	                       .account = "",
	                       .rcpts = to,
	                       .nrcpt = 1,
	                       .data = msg->data,
	                       .len = msg->len,
	                       .now = (int64_t)time(NULL),
	                       .flags = global ? QUEUE_SMTPUTF8 : 0};
	struct queue_hook hook = {.fn = audit_report, .arg = a};
	return queue_put(st, &qp, &hook, err, errlen);
}

int relay_report_deliver(struct store *st, const struct relay_report *r, const char *data, size_t len,
                         char *err, size_t errlen)
{
	const struct mss_config *cfg = store_config(st);
	struct buf msg;
	if (r->mail_from[0] == '\0' || r->n == 0)
		return 1;
	if (!r->account[0] && config_is_local_domain(cfg, str_address_domain(r->mail_from)))
		return 1; /* a local address that did not log in: no mailbox to trust */
	buf_init(&msg, BUF_UNLIMITED);
	int rc = relay_report_build(cfg, r, data, header_len(data, len), (int64_t)time(NULL), &msg);
	struct report_audit a = {.st = st, .r = r};
	if (rc == 0 && r->account[0]) {
		const char *to[1] = {r->account};
		struct store_delivery d = {.mail_from = "",
		                           .rcpts = to,
		                           .nrcpt = 1,
		                           .data = msg.data,
		                           .len = msg.len,
		                           .in_transaction = audit_report,
		                           .in_transaction_arg = &a};
		rc = store_deliver(st, &d, NULL, err, errlen);
	} else if (rc == 0) {
		rc = queue_report(st, r, &msg, report_is_global(r, data, header_len(data, len)), &a, err,
		                  errlen);
	} else {
		str_error(err, errlen, "report for %s could not be built", r->qid);
	}
	buf_free(&msg);
	return rc;
}

int relay_report_send(struct store *st, const struct relay_report *r, char *err, size_t errlen)
{
	struct buf data;
	if (r->mail_from[0] == '\0' || r->n == 0)
		return 1;
	buf_init(&data, BUF_UNLIMITED);
	int rc = queue_read(st, r->qid, &data, err, errlen);
	if (rc > 0) {
		str_error(err, errlen, "queued message %s is gone", r->qid);
		rc = -1;
	} else if (rc == 0) {
		rc = relay_report_deliver(st, r, data.data, data.len, err, errlen);
	}
	buf_free(&data);
	return rc;
}

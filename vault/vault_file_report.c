/* vault_file_report.c: after a filing, the sender learns what was refused, or withheld
 * from the patient's copy without being filed (the service's integration report), the
 * patient what was filed (a notification), and the audit log what the copy withheld. */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_filing.h"
#include "vault/vault_ko.h"

/* true when part i of the message left the patient's copy and no filing took it: it
 * was not inspected, or it was inside a forwarded message. */
static bool lost_to_patient(const struct filing *f, const struct vault_item *it)
{
	enum vault_withhold w = f->plan.parts[it->part];
	return w != VW_KEEP && (it->forwarded || it->kind == VITEM_UNINSPECTED);
}

static void add_attachment(const struct filing *f, const struct vault_item *it, struct vault_ko_attachment *a,
                           size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (a[i].data == it->data.data)
			return; /* each original part once */
	if (it->data.len == 0)
		return;
	a[*n] = (struct vault_ko_attachment){it->mime, f->d->msg.parts[it->part].filename, it->data.data,
	                                     it->data.len};
	(*n)++;
}

/* The first refusal's code, 906 when only withheld parts are to report, 0 when none. */
static int report_code(const struct filing *f, bool *visible)
{
	int code = 0;
	*visible = false;
	for (size_t i = 0; i < f->ndocs; i++) {
		const struct vault_doc *d = &f->docs[i];
		if (!d->error_code)
			continue;
		if (!code)
			code = d->error_code;
		*visible |= !d->invisible_patient;
	}
	return code ? code : f->withheld ? 906 : 0;
}

/* The patient's NOTIFY (RFC 3461), which the report follows like a DSN; 0 when none. */
static unsigned rcpt_notify(const struct filing *f)
{
	const struct policy_message *m = f->d->m;
	size_t i = (size_t)(f->rcpt - f->d->rcpts); /* vault_file_delivery's &d->rcpts[i] */
	return m->rcpt_dsn != NULL && i < m->nrcpt ? m->rcpt_dsn[i].notify : 0;
}

static void send_ko(struct filing *f)
{
	const struct vault_inspection *in = &f->d->insp;
	bool visible;
	for (size_t i = 0; i < in->nitems; i++)
		f->withheld |= lost_to_patient(f, &in->items[i]);
	f->withheld |= !f->d->msg.complete;
	int code = report_code(f, &visible);
	if (!code)
		return;
	struct vault_ko_attachment *att = xcalloc(in->nitems + 1, sizeof *att);
	size_t n = 0;
	for (size_t i = 0; i < f->ndocs; i++)
		if (f->docs[i].error_code)
			add_attachment(f, f->docs[i].item, att, &n);
	for (size_t i = 0; i < in->nitems; i++)
		if (lost_to_patient(f, &in->items[i]))
			add_attachment(f, &in->items[i], att, &n);
	struct vault_ko ko = {.sender = f->d->sender,
	                      .patient = f->rcpt->canonical,
	                      .audit_patient = visible ? f->rcpt->canonical : "",
	                      .subject = f->d->msg.h.subject,
	                      .message_id = f->d->msg.h.message_id,
	                      .code = code,
	                      .refused = f->rep->refused > 0,
	                      .withheld = f->withheld,
	                      .attach = att,
	                      .nattach = n,
	                      .notify = rcpt_notify(f)};
	f->rep->error_code = code;
	int r = vault_send_ko(f->store, &ko);
	if (r != 0)
		log_warn("vault_ko_not_sent", "patient=%s sender=%s code=%d error=\"%s\"", f->rcpt->canonical,
		         f->d->sender, code,
		         r > 0 ? "NOTIFY, or the sender has no mailbox here" : "not stored");
	free(att);
}

/* What the copy withheld, for whoever investigates (never in the patient's history:
 * it would name documents kept from them). */
static void audit_withheld(struct filing *f)
{
	char detail[160], err[256];
	if (!vault_copy_withholds(&f->plan))
		return;
	str_assert(str_format(detail, sizeof detail,
	                      "invisible=%u other_patient=%u uninspected=%u whole=%d qid=%s",
	                      f->plan.invisible, f->plan.other_patient, f->plan.uninspected, f->plan.whole,
	                      f->d->m->queue_id ? f->d->m->queue_id : "-"),
	           "four numbers, a 16-byte queue id and 60 bytes of keys fit 160");
	struct audit_event ev = {.actor = "mss",
	                         .auth = "local",
	                         .action = "vault.withhold",
	                         .target = f->rcpt->canonical,
	                         .detail = detail,
	                         .result = "ok",
	                         .peer = "",
	                         .patient = ""};
	if (audit_append(f->store, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=vault.withhold error=\"%s\"", err);
}

void vault_report(struct filing *f)
{
	audit_withheld(f);
	send_ko(f);
	if (f->nnotices > 0) /* notify_command: by vault_file_delivery, once committed */
		(void)vault_notice_documents(f->store, f->rcpt->canonical, f->notices, f->nnotices,
		                             &f->rep->notice_kind);
}

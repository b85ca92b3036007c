/* policy.c: who may write to whom (see policy.h), and delivery's consequences.
 *
 * The facts of each question are read here (accounts, directory, trust list, blocks,
 * contacts, configuration); the rules themselves are policy_rules.c. */
#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "directory/trust.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "auth/identity.h"
#include "auth/sender_rows.h"
#include "policy/contacts.h"
#include "policy/policy_relay.h"
#include "policy/policy_rules.h"
#include "store/store_sql.h"
#include "vault/vault.h"
#include "vault/vault_copy.h"
#include "vault/vault_delivery.h"
#include "vault/vault_profile.h"

int policy_refuse(struct mss_status *st, int code, const char *enh, const char *text)
{
	st->code = code;
	str_assert(str_copy(st->enhanced, sizeof st->enhanced, enh), "a constant \"4.3.0\" into 12 bytes");
	if (str_copy(st->text, sizeof st->text, text) < 0)
		log_warn("policy", "code=%d enhanced=%s error=\"reply text cut to %zu bytes\"", code, enh,
		         sizeof st->text - 1);
	return code >= 500 ? 1 : -1;
}

static int accept(struct mss_status *st)
{
	st->code = 0;
	st->enhanced[0] = st->text[0] = '\0';
	return 0;
}

static int temp_failure(struct mss_status *st)
{
	return policy_refuse(st, 451, "4.3.0", "temporary failure, try again later");
}

/* Formats an audit record's detail. A record cut short would misstate the decision, so a
 * cut is an audit failure (fail closed, as audit_decision's): logs it and returns -1. */
static int audit_detail(char *detail, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int audit_detail(char *detail, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(detail, len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < len)
		return 0;
	log_err("audit_failed", "error=\"detail longer than %zu bytes\"", len - 1);
	return -1;
}

/* How a decision's record is written: now, or kept for the delivery it leads to. */
enum audit_when { AUDIT_NOW, AUDIT_WITH_DELIVERY };

/* Records the decision; a failure to audit is an internal error (fail closed). An
 * accepted MAIL or RCPT stores nothing by itself: with AUDIT_WITH_DELIVERY its record is
 * kept and commits with the delivery's rows (audit.h, "Deferred records"). */
static int audit_decision_when(struct store *store, const struct policy_sender *s, const char *action,
                               const char *target, const char *detail, const struct mss_status *st,
                               const char *patient, enum audit_when when)
{
	char result[300], err[256];
	if (st->code == 0)
		str_assert(str_copy(result, sizeof result, "ok"), "a constant into 300 bytes");
	else
		str_assert(
		    str_format(result, sizeof result, "refused: %d %s %s", st->code, st->enhanced, st->text),
		    "a code, the 12-byte enhanced code and the 256-byte text fit 300 bytes");
	struct audit_event ev = {
	    .actor = s->account[0] ? s->account : (s->tls_subject_dn[0] ? s->tls_subject_dn : "anonymous"),
	    .auth = policy_auth_name(s->auth),
	    .action = action,
	    .target = target,
	    .detail = detail,
	    .result = result,
	    .peer = s->peer_ip,
	    .patient = patient};
	if (when == AUDIT_WITH_DELIVERY && st->code == 0) {
		audit_defer(&ev);
		return 0;
	}
	if (audit_append(store, &ev, err, sizeof err) < 0) {
		log_err("audit_failed", "action=%s error=\"%s\"", action, err);
		return -1;
	}
	return 0;
}

static int audit_decision(struct store *store, const struct policy_sender *s, const char *action,
                          const char *target, const char *detail, const struct mss_status *st,
                          const char *patient)
{
	return audit_decision_when(store, s, action, target, detail, st, patient, AUDIT_NOW);
}

static bool is_submission(const struct policy_sender *s)
{
	return s->auth == SENDER_PASSWORD || s->auth == SENDER_CERTIFICATE || s->auth == SENDER_TOKEN;
}

/* The address the sender speaks for: their login on submission, else the envelope. */
static const char *sender_identity(const struct policy_sender *s, const char *mail_from)
{
	return is_submission(s) ? s->account : mail_from;
}

/* ---- MAIL FROM and the header: who the sender may be is auth/identity.c's ---- */

int policy_check_mail(struct store *store, struct policy_sender *s, const char *mail_from,
                      struct mss_status *st)
{
	const char *why = "error";
	const char *identity = sender_identity(s, mail_from);
	/* on an error the questions below read for themselves (and fail as they would) */
	if (s->auth != SENDER_ANONYMOUS && identity[0] != '\0')
		(void)sender_rows_read(store, s, identity);
	int r = identity_check_mail(store, store_config(store), s, mail_from, st, &why);
	char detail[64];
	if (audit_detail(detail, sizeof detail, "reason=%s", why) < 0 ||
	    audit_decision_when(store, s, "smtp.mail", mail_from[0] ? mail_from : "<>", detail, st, "",
	                        AUDIT_WITH_DELIVERY) < 0)
		return temp_failure(st);
	return r;
}

int policy_check_header(struct store *store, const struct policy_sender *s, const char *mail_from,
                        const struct identity_header *h, struct mss_status *st)
{
	const char *why = "error";
	int r = identity_check_header(store, store_config(store), s, mail_from, h, st, &why);
	char detail[64];

	if (r == 0)
		return 0; /* accepted: the delivery's own record says so */
	if (audit_detail(detail, sizeof detail, "reason=%s", why) < 0 ||
	    audit_decision(store, s, "smtp.header", mail_from[0] ? mail_from : "<>", detail, st, "") < 0)
		return temp_failure(st);
	return r;
}

/* ---- RCPT TO ---- */

static int sender_proven(struct store *store, const struct policy_sender *s, const char *mail_from)
{
	switch (s->auth) {
	case SENDER_PASSWORD:
	case SENDER_CERTIFICATE:
	case SENDER_TOKEN:
	case SENDER_RELAY_CERT:
		return s->account[0] != '\0';
	case SENDER_RELAY_SPF:
		return 1;
	case SENDER_OPERATOR:
		return mail_from[0] == '\0'
		           ? trust_dn_known(store, s->tls_subject_dn)
		           : identity_operator_listed(store, s, str_address_domain(mail_from));
	default:
		return 0;
	}
}

static int sender_facts(struct store *store, const struct policy_sender *s, const char *identity,
                        const char *mail_from, struct policy_facts *f)
{
	int proven = sender_proven(store, s, mail_from);
	if (proven < 0)
		return -1;
	f->sender_proven = proven == 1;
	if (!f->sender_proven || identity[0] == '\0')
		return 0;
	struct account a;
	int r = sender_account(store, s, identity, &a);
	if (r < 0)
		return -1;
	if (r == 1 && !a.disabled) {
		f->sender_patient = a.role == ROLE_PATIENT;
		f->sender_local_pro = a.role == ROLE_PROFESSIONAL || a.role == ROLE_ORGANISATION;
	}
	struct dir_entry e;
	r = sender_dir_entry(store, s, identity, &e);
	if (r < 0)
		return -1;
	f->sender_dir_active = r == 1 && e.active;
	f->sender_dir_inactive = r == 1 && !e.active;
	return 0;
}

/* row (may be NULL): the local recipient's account as read here, for the delivery */
static int rcpt_facts(struct store *store, const struct mss_config *cfg, const char *rcpt,
                      struct policy_facts *f, struct policy_rcpt_row *row)
{
	const char *dom = str_address_domain(rcpt);
	if (config_is_local_domain(cfg, dom)) {
		struct account a;
		int r = account_get(store, rcpt, &a);
		if (r < 0)
			return -1;
		if (row != NULL)
			vault_rcpt_row_set(row, r, &a);
		f->place = RCPT_LOCAL;
		f->rcpt_patient_domain = str_ieq(dom, cfg->patient_domain);
		f->rcpt_exists = r == 1 && !a.disabled;
		f->rcpt_patient = f->rcpt_exists && a.role == ROLE_PATIENT;
	} else {
		int r = trust_domain_known(store, dom);
		if (r < 0)
			return -1;
		f->place = r == 1 ? RCPT_TRUST : RCPT_OUTSIDE;
	}
	int ph = dir_entry_is_pharmacy(store, rcpt, cfg->pharmacy_professions);
	if (ph < 0)
		return -1;
	f->rcpt_pharmacy = ph == 1;
	return 0;
}

static int relation_facts(struct store *store, const char *identity, const char *rcpt, struct policy_facts *f)
{
	f->rcpt_self = f->sender_patient && f->rcpt_patient && str_ieq(identity, rcpt);
	if (f->rcpt_patient && identity[0] != '\0') {
		int b = contacts_is_blocked(store, rcpt, identity);
		if (b < 0)
			return -1;
		f->blocked = b == 1;
	}
	if (f->sender_patient && contacts_state(store, identity, rcpt, &f->contact) < 0)
		return -1;
	return 0;
}

static int gather_facts(struct store *store, const struct policy_sender *s, const char *mail_from,
                        const char *rcpt, struct policy_facts *f, struct policy_rcpt_row *row)
{
	const struct mss_config *cfg = store_config(store);
	memset(f, 0, sizeof(*f));
	if (row != NULL)
		*row = (struct policy_rcpt_row){.rc = -1}; /* a remote recipient's is not read */
	f->auth = s->auth;
	f->relay_supported = true; /* the queue relays to the trust space (policy_relay.h) */
	const char *identity = sender_identity(s, mail_from);
	if (sender_facts(store, s, identity, mail_from, f) < 0 || rcpt_facts(store, cfg, rcpt, f, row) < 0 ||
	    relation_facts(store, identity, rcpt, f) < 0)
		return -1;
	return 0;
}

int policy_rcpt_facts(struct store *store, const struct policy_sender *s, const char *mail_from,
                      const char *rcpt, struct policy_facts *f)
{
	return gather_facts(store, s, mail_from, rcpt, f, NULL);
}

int policy_check_rcpt(struct store *store, const struct policy_sender *s, const char *mail_from,
                      const char *rcpt, struct policy_rcpt_row *row, struct mss_status *st)
{
	struct policy_facts f;
	struct policy_verdict v = {.reason = "error"};
	int r;
	if (gather_facts(store, s, mail_from, rcpt, &f, row) < 0) {
		r = temp_failure(&v.st);
	} else {
		r = policy_decide(&f, &v);
	}
	*st = v.st;
	char detail[400];
	if (audit_detail(detail, sizeof detail, "from=%s reason=%s", mail_from[0] ? mail_from : "<>",
	                 v.reason) < 0)
		return temp_failure(st);
	const char *identity = sender_identity(s, mail_from);
	/* an accepted RCPT is no event for the patient: the delivery is (smtp.deliver) */
	const char *patient = st->code == 0 ? "" : f.rcpt_patient ? rcpt : f.sender_patient ? identity : "";
	if (audit_decision_when(store, s, "smtp.rcpt", rcpt, detail, st, patient, AUDIT_WITH_DELIVERY) < 0)
		return temp_failure(st);
	return r;
}

/* ---- delivery ---- */

/* A professional's message to a patient opens (or, with FIN, closes) the patient's
 * authorised contact. Read from the delivery's one parse; each recipient's account
 * from its one lookup. Failures are logged: the message is stored with the records. */
static void record_contacts(struct store *store, const struct vault_delivery *d)
{
	const struct policy_message *m = d->m;
	const char *identity = sender_identity(m->sender, m->mail_from);
	if (d->sender_patient)
		return;
	struct contact_info info;
	memset(&info, 0, sizeof info);
	if (d->parsed)
		contacts_info_from_header(&d->msg.h, &info);
	const char *contact = contacts_reply_address(store, &info);
	if (contact[0] == '\0')
		contact = identity;
	if (contact[0] == '\0')
		return;
	/* A FIN counts only from the contact itself, never from a third party naming it;
	 * nor does a third party reopen an exchange the contact closed. */
	bool own = identity_may_close(m->sender, info.from[0] ? info.from : identity, contact);
	bool fin = info.fin && own;
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct vault_rcpt *to = &d->rcpts[i];
		if (!to->account || to->role != ROLE_PATIENT)
			continue;
		/* 1: the exchange opened or closed, 0: its state unchanged, -1: failed */
		int r = own ? contacts_record(store, to->canonical, contact, fin)
		            : contacts_record_named(store, to->canonical, contact);
		if (r < 0) {
			log_err("contact_failed", "qid=%s", m->queue_id);
			continue;
		}
		if (r == 0) /* nothing changed: the history records an exchange's opening and
		             * end, not each message (the delivery has its own record) */
			continue;
		struct mss_status ok = {0};
		audit_decision(store, m->sender, fin ? "contact.close" : "contact.open", contact, m->queue_id,
		               &ok, to->canonical);
	}
}

/* The patient whose history a delivery to rcpt belongs in: the recipient when a
 * patient, else the sender when a patient (their own message, sent), else none. */
static const char *delivery_patient(const struct vault_delivery *d, const struct vault_rcpt *r)
{
	if (r->account && r->role == ROLE_PATIENT)
		return r->canonical;
	return d->sender_patient ? d->sender : "";
}

/* What commits with the message rows (store_deliver's hook): the records of the
 * accepted MAIL and RCPTs, the authorised contacts and the delivery's audit records.
 * One database commit per message instead of one per record or command, no stored
 * message without its audit records, and the blobs' own fsyncs stay outside the write
 * lock. */
struct delivery_records {
	struct store *store;
	const struct vault_delivery *d;
};

static int record_delivery(void *arg, char *err, size_t errlen)
{
	const struct delivery_records *r = arg;
	const struct policy_message *m = r->d->m;
	char detail[600];
	/* the accepted MAIL and RCPTs that led here, kept until now (audit_decision_when) */
	if (audit_flush(r->store, err, errlen) != 0)
		return -1;
	record_contacts(r->store, r->d);
	if (audit_detail(detail, sizeof detail, "from=%s rcpts=%zu size=%zu", m->mail_from, m->nrcpt,
	                 m->len) < 0) {
		str_error(err, errlen, "audit record too long");
		return -1;
	}
	struct mss_status ok = {0};
	for (size_t i = 0; i < m->nrcpt; i++)
		if (audit_decision(r->store, m->sender, "smtp.deliver", m->rcpts[i], detail, &ok,
		                   delivery_patient(r->d, &r->d->rcpts[i])) < 0) {
			str_error(err, errlen, "audit record not written");
			return -1;
		}
	return 0;
}

/* A patient's message with their own address among the recipients. */
static bool writes_to_self(const struct vault_delivery *d)
{
	for (size_t i = 0; d->sender_patient && i < d->m->nrcpt; i++)
		if (d->rcpts[i].account && str_ieq(d->rcpts[i].canonical, d->sender))
			return true;
	return false;
}

/* One local delivery between its two steps: prepared before the transaction, its rows
 * in it (deliver_rows), filed after the commit (policy_deliver_finish). */
struct policy_staged {
	const struct policy_message *m;
	struct vault_delivery d;
	bool open;                      /* d is open */
	struct vault_inbox_plan *inbox; /* the versions prepared for the store */
	struct delivery_records rec;    /* the hook's arg: lives until the rows */
	/* 0: to store; 1: accepted with nothing left to do (a profile section, filed);
	 * 2: refused (why in st); -1: failed (451) */
	int outcome;
	struct mss_status st;
	bool stored; /* the rows are in: filed once committed */
	bool filed;  /* the filing's rows were in the delivery's own transaction (deliver_local) */
	/* that transaction commits after the rows (deliver_filed), and settles the kept records */
	bool commit_after;
};

/* Everything that needs no row given out in the transaction, so that a committer
 * holds the write lock for the rows only: the parse, the vault's inspection and the
 * lookups (vault_delivery_open), a patient's profile section, the patients' copies,
 * the blobs sealed and written, the message keys sealed to the recipients (their
 * readers' keys are sealed in the rows, where the readers' rule is read). Writes no
 * audit record: deliver_rows writes the outcome's. */
static void deliver_prepare(struct store *store, struct policy_staged *p, struct vault_delivery *given)
{
	const struct policy_message *m = p->m;
	char err[512];
	int rc = 0;
	if (given != NULL) /* this process's own inspection (policy_inspect): not done again */
		vault_delivery_move(&p->d, given);
	else
		rc = vault_delivery_open(store, m, &p->d, err, sizeof err);
	p->open = rc == 0;
	int profile = rc == 0 ? vault_profile_mail(store, &p->d, err, sizeof err) : 0;
	if (profile != 0) { /* a patient's profile section to themselves: filed, not stored in INBOX */
		vault_delivery_close(&p->d);
		p->open = false;
		if (profile == 1) {
			p->outcome = 1;
			return;
		}
		if (profile == 2) {
			policy_refuse(&p->st, 550, "5.6.0", err);
			p->outcome = 2;
			return;
		}
		rc = -1;
	}
	if (rc == 0 && writes_to_self(&p->d)) { /* RCPT let it through for a section */
		vault_delivery_close(&p->d);
		p->open = false;
		policy_refuse(
		    &p->st, 550, "5.7.1",
		    "patients cannot write to patients; to yourself, only a profile section (Subject: Profil "
		    "medical : <section>)");
		p->outcome = 2;
		return;
	}
	if (rc == 0) {
		p->rec = (struct delivery_records){.store = store, .d = &p->d};
		struct vault_inbox_hook hook = {.fn = record_delivery, .arg = &p->rec};
		rc = vault_inbox_prepare(store, &p->d, &hook, &p->inbox, err, sizeof err);
	}
	if (rc != 0) {
		log_err("delivery_failed", "qid=%s error=\"%s\"", m->queue_id, err);
		p->outcome = -1;
	}
}

/* The delivery's rows, contacts and audit records in the delivery's transaction (a
 * savepoint of it when the caller holds one open, the committer's batch). Returns 0
 * when stored (filed after the commit by policy_deliver_finish); 1 when accepted with
 * nothing left to do; -1 with st filled (refused, or 451) and nothing stored. */
static int deliver_rows(struct store *store, struct policy_staged *p, struct mss_status *st)
{
	const struct policy_message *m = p->m;
	char why[256], err[512];
	if (p->outcome == 1) {
		accept(st);
		return 1;
	}
	if (p->outcome == 2) {
		*st = p->st;
		/* the decisions that led here first, as audit_append would (in a batch too) */
		(void)audit_flush(store, why, sizeof why);
		audit_decision(store, m->sender, "smtp.deliver", m->queue_id, NULL, st, "");
		return -1;
	}
	int rc = p->outcome;
	if (p->inbox != NULL) {
		if (rc == 0) {
			rc = vault_inbox_rows(store, p->inbox, err, sizeof err);
			if (rc != 0)
				log_err("delivery_failed", "qid=%s error=\"%s\"", m->queue_id, err);
		}
		/* stored: the kept records are in the rows' transaction, dropped once it commits
		 * (deliver_filed's commits after them: it settles them then) */
		if (rc != 0 || !p->commit_after)
			audit_deferred_settle(rc == 0);
	}
	if (rc != 0) {
		policy_not_stored(st);
		(void)audit_flush(store, why, sizeof why);
		audit_decision(store, m->sender, "smtp.deliver", m->queue_id, NULL, st, "");
		return -1;
	}
	p->stored = true;
	accept(st);
	return 0;
}

/* A message with documents for a patient, delivered here: the filing is planned before
 * the write transaction (its documents read, built, sealed, their blob files durable)
 * and its rows written in the delivery's own, after the message's rows, so that the
 * message is never stored without its filing (two commits left it so when the process
 * died between them, and the client's retry delivered it twice). The failure's own
 * audit record commits as in a committer's batch. Returns as deliver_rows; p->filed
 * then says policy_deliver_finish has nothing left to file. */
static int deliver_filed(struct store *store, struct policy_staged *p, struct mss_status *st)
{
	const struct policy_message *m = p->m;
	char err[512] = "";
	struct vault_filing_run *run = vault_file_plan_all(store, &p->d);
	if (store_batch_begin(store, err, sizeof err) != 0) {
		log_err("delivery_failed", "qid=%s error=\"%s\"", m->queue_id, err);
		vault_file_end(run, false);
		policy_not_stored(st);
		return -1;
	}
	p->commit_after = true;
	int rc = deliver_rows(store, p, st);
	if (rc == 0)
		vault_file_rows_all(run);
	bool committed = store_batch_end(store, true, err, sizeof err) == 0;
	/* the kept MAIL/RCPT records (and a submission's login) written in it: dropped once
	 * committed, else kept for the SMTP transaction's end, as after a committer's failed
	 * batch (dropped before the COMMIT, a failed one lost them) */
	audit_deferred_settle(committed);
	if (!committed && rc == 0) {
		log_err("delivery_failed", "qid=%s error=\"%s\"", m->queue_id, err);
		policy_not_stored(st);
		rc = -1;
	}
	p->filed = true;
	vault_file_end(run, rc == 0);
	return rc;
}

/* given: m's delivery opened and inspected by this process (policy_inspect), else NULL. */
static int deliver_local(struct store *store, const struct policy_message *m, struct vault_delivery *given,
                         struct mss_status *st)
{
	struct policy_staged *p = xcalloc(1, sizeof *p);
	p->m = m;
	deliver_prepare(store, p, given);
	bool files =
	    p->outcome == 0 && p->open && vault_file_writes(&p->d) && !sql_in_transaction(store_sql(store));
	int rc = files ? deliver_filed(store, p, st) : deliver_rows(store, p, st);
	/* else filed after the durable store, when anything is to file (a text-only
	 * message's filing writes nothing) */
	policy_deliver_finish(store, p, rc == 0);
	return rc < 0 ? -1 : 0;
}

void policy_not_stored(struct mss_status *st)
{
	(void)policy_refuse(st, 451, "4.3.0", "temporary failure storing the message, try again later");
}

bool policy_all_local(const struct mss_config *cfg, const struct policy_message *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (!config_is_local_domain(cfg, str_address_domain(m->rcpts[i])))
			return false;
	return m->nrcpt > 0;
}

struct policy_staged *policy_deliver_prepare(struct store *store, const struct policy_message *m)
{
	struct policy_staged *p = xcalloc(1, sizeof *p);
	p->m = m;
	deliver_prepare(store, p, NULL);
	return p;
}

int policy_deliver_stage(struct store *store, struct policy_staged *staged, struct mss_status *st)
{
	return deliver_rows(store, staged, st) < 0 ? -1 : 0;
}

bool policy_deliver_stored(const struct policy_staged *staged)
{
	return staged != NULL && staged->stored;
}

bool policy_deliver_finish(struct store *store, struct policy_staged *staged, bool committed)
{
	if (staged == NULL)
		return false;
	/* the copies given: the session that decided them inspected the message and files it */
	bool theirs = staged->m->copies != NULL;
	bool filing = staged->stored && committed;
	if (filing && !theirs && !staged->filed)
		vault_file_delivery(store, &staged->d);
	vault_inbox_free(store, staged->inbox); /* removes the blobs of rows never stored */
	if (staged->open)
		vault_delivery_close(&staged->d);
	free(staged);
	return filing && theirs;
}

/* What a committer's session keeps of its delivery: the message inspected and looked
 * up as deliver_prepare does it, and the patients' copies decided from it. */
struct policy_inspection {
	struct vault_delivery d;
	struct vault_copy_plan *copies; /* one per recipient (empty for those not patients) */
	size_t n;
};

struct policy_inspection *policy_inspect(struct store *store, const struct policy_message *m, char *err,
                                         size_t errlen)
{
	struct policy_inspection *in = xcalloc(1, sizeof *in);
	if (vault_delivery_open(store, m, &in->d, err, errlen) != 0) {
		free(in);
		return NULL;
	}
	in->n = m->nrcpt;
	in->copies = xcalloc(in->n ? in->n : 1, sizeof *in->copies);
	for (size_t i = 0; i < in->n; i++)
		if (in->d.rcpts[i].patient)
			(void)vault_copy_for(&in->d, i, &in->copies[i]); /* -1: memory, aborted first */
	return in;
}

int policy_deliver_inspected(struct store *store, struct policy_inspection *in, struct mss_status *st)
{
	const struct policy_message *m = in->d.m;
	if (!policy_all_local(store_config(store), m)) { /* the relay's part: policy_deliver's */
		policy_inspection_end(store, in, false);
		return policy_deliver(store, m, st);
	}
	int rc = deliver_local(store, m, &in->d, st); /* takes in->d: the parse and inspection */
	policy_inspection_end(store, in, false);      /* the copies decided for a committer */
	if (rc == 0)
		accept(st);
	return rc;
}

bool policy_inspection_files(const struct policy_inspection *in)
{
	return vault_file_writes(&in->d);
}

const struct vault_copy_plan *policy_inspection_copies(const struct policy_inspection *in)
{
	return in->copies;
}

void policy_inspection_end(struct store *store, struct policy_inspection *in, bool file)
{
	if (in == NULL)
		return;
	if (file) /* after the committer's commit, before the 250: as deliver_local files */
		vault_file_delivery(store, &in->d);
	for (size_t i = 0; i < in->n; i++)
		vault_copy_plan_free(&in->copies[i]);
	free(in->copies);
	vault_delivery_close(&in->d);
	free(in);
}

int policy_audit_decision(struct store *store, const struct policy_sender *s, const char *action,
                          const char *target, const char *detail, const struct mss_status *st,
                          const char *patient)
{
	return audit_decision(store, s, action, target, detail, st, patient);
}

/* Remote recipients are queued first (durably, with their audit records), local ones
 * delivered second; when the local delivery fails the queued copy is withdrawn, so a
 * 451 leaves nothing behind and the client's retry sends it once. */
int policy_deliver(struct store *store, const struct policy_message *m, struct mss_status *st)
{
	const struct mss_config *cfg = store_config(store);
	const char **local = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof *local);
	const char **remote = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof *remote);
	struct dsn_rcpt *remote_dsn = m->rcpt_dsn ? xcalloc(m->nrcpt, sizeof *remote_dsn) : NULL;
	struct dsn_rcpt *local_dsn = m->rcpt_dsn ? xcalloc(m->nrcpt, sizeof *local_dsn) : NULL;
	struct policy_rcpt_row *local_rows = m->rcpt_rows ? xcalloc(m->nrcpt, sizeof *local_rows) : NULL;
	size_t nlocal = 0, nremote = 0;
	int rc = 0;
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (config_is_local_domain(cfg, str_address_domain(m->rcpts[i]))) {
			if (local_dsn)
				local_dsn[nlocal] = m->rcpt_dsn[i];
			if (local_rows)
				local_rows[nlocal] = m->rcpt_rows[i];
			local[nlocal++] = m->rcpts[i];
			continue;
		}
		if (remote_dsn)
			remote_dsn[nremote] = m->rcpt_dsn[i];
		remote[nremote++] = m->rcpts[i];
	}
	if (nremote > 0)
		rc = policy_relay_queue(store, m, remote, remote_dsn, nremote, st);
	if (rc == 0 && nlocal > 0) {
		struct policy_message lm = *m;
		lm.rcpts = local;
		lm.nrcpt = nlocal;
		lm.rcpt_dsn = local_dsn; /* the vault's reports after the 250 follow NOTIFY */
		lm.rcpt_rows = local_rows;
		rc = deliver_local(store, &lm, NULL, st);
		if (rc != 0 && nremote > 0)
			policy_relay_withdraw(store, m);
	}
	if (rc == 0)
		accept(st);
	free(local);
	free(remote);
	free(remote_dsn);
	free(local_dsn);
	free(local_rows);
	return rc;
}

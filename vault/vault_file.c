/* vault_file.c: filing the documents of a delivered message into the patient's vault.
 *
 * Order of work: find the documents (vault_parse.c), open IHE XDM archives and take
 * each document with its XDS metadata, check the patient's identity, classify, store
 * each as a message in Documents/<Class>, audit each, then tell the patient
 * (notification) and the sender (integration error report) as needed. The incoming
 * message is already stored in the INBOX: nothing here can lose it. */
#include "vault/vault.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/account.h"
#include "lib/sql.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "vault/vault_cda.h"
#include "vault/vault_int.h"
#include "vault/vault_notify.h"
#include "vault/vault_xdm.h"
#include "store/store_sql.h"

#define VAULT_MAX_DOCS 128
/* Bytes all the archives of one message may inflate to together (each one also has
 * its own limits): several archives in one message must not add up to a bomb. */
#define VAULT_INFLATE_BUDGET (128ull * 1024 * 1024)

/* Everything one filing run holds. */
struct filing {
	struct store *store;
	const struct policy_message *m;
	const char *patient;
	char patient_ins[16]; /* the INS the patient's address carries, "" when none */
	char sender[256];     /* authenticated account, else MAIL FROM */
	char sender_name[256];
	struct vault_parsed msg;
	struct vault_doc docs[VAULT_MAX_DOCS];
	size_t ndocs;
	struct buf extracted[VAULT_MAX_DOCS]; /* bytes taken out of XDM archives */
	size_t nextracted;
	bool has_xdm_docs;
	uint64_t inflated; /* bytes taken out of archives so far */
	struct vault_file_report *rep;
};

static int classes_loaded;

int vault_classes_init(const struct mss_config *cfg, char *err, size_t errlen)
{
	if (classes_loaded)
		return 0;
	classes_loaded = 1;
	return vault_classes_load(cfg->vault_classes_file, err, errlen);
}

/* The INS is the whole local part of an INS-built address: 15 digits (NIR/NIA + key). */
static void patient_ins_of(const char *address, char *out, size_t outlen)
{
	const char *at = strchr(address, '@');
	out[0] = '\0';
	if (at && at - address == 15 && strspn(address, "0123456789") == 15)
		str_format(out, outlen, "%.15s", address);
}

static struct vault_doc *new_doc(struct filing *f)
{
	if (f->ndocs == VAULT_MAX_DOCS)
		return NULL;
	struct vault_doc *d = &f->docs[f->ndocs++];
	memset(d, 0, sizeof *d);
	d->cls = VAULT_AUTRES;
	return d;
}

static void refuse_doc(struct vault_doc *d, int code, const char *why)
{
	if (d->error_code)
		return;
	d->error_code = code;
	str_copy(d->error, sizeof d->error, why);
}

/* The four identity checks, in the order the service's codes are defined. */
static void check_identity(struct filing *f, struct vault_doc *d, const char *ins, const char *oid)
{
	if (!ins[0])
		refuse_doc(d, 903, "no patient INS in the document metadata");
	else if (!xdm_is_ins_oid(oid))
		refuse_doc(d, 905,
		           "the patient identifier is not a qualified INS (unknown assigning authority)");
	else if (!f->patient_ins[0])
		refuse_doc(d, 902, "the recipient mailbox is not identified by an INS: patient unknown");
	else if (strcmp(ins, f->patient_ins) != 0)
		refuse_doc(d, 904, "the document's INS does not match the recipient patient");
}

static void classify_xdm(struct vault_doc *d, const struct xdm_document *x)
{
	if (vault_classify_code(x->type_code, &d->cls) == 0 ||
	    vault_classify_code(x->class_code, &d->cls) == 0)
		return;
	char text[600];
	str_format(text, sizeof text, "%s %s", x->title, x->type_label);
	d->cls = vault_classify_guess(d->mime, x->uri, text);
}

static void xdm_entry(struct filing *f, struct xdm_archive *a, const struct xdm_document *x)
{
	char err[200];
	struct vault_doc *d = new_doc(f);
	if (!d || f->nextracted == VAULT_MAX_DOCS)
		return;
	struct buf *b = &f->extracted[f->nextracted++];
	buf_init(b, BUF_UNLIMITED);
	d->from_xdm = true;
	f->has_xdm_docs = true;
	str_copy(d->filename, sizeof d->filename, x->uri);
	str_copy(d->type_code, sizeof d->type_code, x->type_code);
	str_copy(d->type_label, sizeof d->type_label, x->type_label);
	str_copy(d->author, sizeof d->author, x->author[0] ? x->author : f->sender_name);
	str_copy(d->title, sizeof d->title, x->title);
	str_copy(d->created, sizeof d->created, x->creation_time);
	str_copy(d->unique_id, sizeof d->unique_id, x->unique_id);
	d->masked_ps = x->masked_ps;
	d->invisible_patient = x->invisible_patient;
	if (xdm_read_document(a, x->uri, b, err, sizeof err) != 0) {
		refuse_doc(d, 906, err);
		return;
	}
	d->data = b->data;
	d->len = b->len;
	f->inflated += b->len;
	if (xdm_check_document(x, b->data, b->len, err, sizeof err) != 0)
		refuse_doc(d, 906, err);
	vault_sniff(b->data, b->len, x->mime_type, x->uri, d->mime, sizeof d->mime);
	classify_xdm(d, x);
	check_identity(f, d, x->patient_ins, x->patient_oid);
}

/* A CDA sent on its own names its patient and type itself: checked and used. */
static void read_cda(struct filing *f, struct vault_doc *d)
{
	struct cda_info ci;
	char err[160];
	if (cda_parse(d->data, d->len, &ci, err, sizeof err) != 0)
		return;
	str_copy(d->type_code, sizeof d->type_code, ci.code);
	str_copy(d->title, sizeof d->title, ci.title);
	d->cls_known = vault_classify_code(ci.code, &d->cls) == 0;
	if (ci.ins[0])
		check_identity(f, d, ci.ins, ci.oid);
}

/* A part that is not an archive, or an archive that is not XDM: one document. */
static struct vault_doc *plain_doc(struct filing *f, const struct vault_part *p, const char *mime)
{
	struct vault_doc *d = new_doc(f);
	if (!d)
		return NULL;
	d->data = p->data;
	d->len = p->len;
	str_copy(d->mime, sizeof d->mime, mime);
	str_copy(d->filename, sizeof d->filename, p->filename);
	str_copy(d->author, sizeof d->author, f->sender_name);
	if (strcmp(mime, "text/xml") == 0)
		read_cda(f, d);
	return d;
}

static void zip_part(struct filing *f, const struct vault_part *p, const char *mime)
{
	struct xdm_limits lim;
	struct xdm_archive *a = NULL;
	struct xdm_metadata *md = xcalloc(1, sizeof *md);
	char err[200];

	xdm_limits_default(&lim);
	uint64_t left = f->inflated < VAULT_INFLATE_BUDGET ? VAULT_INFLATE_BUDGET - f->inflated : 0;
	if (lim.max_total > left)
		lim.max_total = left;
	enum xdm_result r = xdm_open(p->data, p->len, &lim, &a, err, sizeof err);
	if (r == XDM_OK)
		r = xdm_read_metadata(a, md, err, sizeof err);
	if (r == XDM_OK) {
		for (size_t i = 0; i < md->ndocs; i++)
			xdm_entry(f, a, &md->docs[i]);
	} else {
		/* Not usable as XDM: kept whole as one document (nothing lost), except an
		 * archive over the limits, which is never stored a second time. */
		struct vault_doc *d = plain_doc(f, p, mime);
		log_warn("vault_xdm", "patient=%s queue_id=%s result=\"%s\"", f->patient, f->m->queue_id,
		         xdm_result_text(r));
		if (d && r == XDM_TOO_LARGE)
			refuse_doc(d, 906,
			           "IHE XDM archive over the size limits (refused as a possible zip bomb)");
		else if (d)
			str_copy(d->error, sizeof d->error, xdm_result_text(r)); /* filed, with a note */
	}
	xdm_close(a);
	free(md);
}

static void collect(struct filing *f)
{
	char mime[128];
	for (size_t i = 0; i < f->msg.nparts; i++) {
		const struct vault_part *p = &f->msg.parts[i];
		vault_sniff(p->data, p->len, p->declared_mime, p->filename, mime, sizeof mime);
		if (strcmp(mime, "application/zip") == 0)
			zip_part(f, p, mime);
		else
			plain_doc(f, p, mime);
	}
}

/* Documents without metadata beside an XDM archive are its readable copies (the PDF
 * next to each CDA): they follow the archive's class, visibility and identity. */
static void settle_plain_docs(struct filing *f)
{
	const struct vault_doc *first = NULL;
	bool masked = false, invisible = false;
	int id_error = 0;
	for (size_t i = 0; i < f->ndocs; i++) {
		const struct vault_doc *d = &f->docs[i];
		if (!d->from_xdm)
			continue;
		first = first ? first : d;
		masked |= d->masked_ps;
		invisible |= d->invisible_patient;
		if (d->error_code >= 902 && d->error_code <= 905 && !id_error)
			id_error = d->error_code;
	}
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		if (d->from_xdm)
			continue;
		if (!d->cls_known && first)
			d->cls = first->cls;
		else if (!d->cls_known && vault_classify_code_list(f->msg.x_mss_codecda, &d->cls) != 0)
			d->cls = vault_classify_guess(d->mime, d->filename, f->msg.subject);
		d->masked_ps |= masked;
		d->invisible_patient |= invisible;
		if (id_error)
			refuse_doc(d, id_error, "sent with a document whose patient identity was refused");
	}
}

static void audit_doc(struct filing *f, const struct vault_doc *d, const char *target, const char *result)
{
	char detail[400], err[256];
	/* X-MSS-INS (O: the sender says the XDM carries a qualified INS) is recorded
	 * beside what the metadata showed, for whoever investigates a refusal. */
	str_format(detail, sizeof detail, "class=%s type=%s mime=%s size=%zu%s%s x-mss-ins=%s source=%s%s%s",
	           vault_class_name(d->cls), d->type_code[0] ? d->type_code : "-", d->mime, d->len,
	           d->masked_ps ? " masked_ps" : "", d->invisible_patient ? " invisible_patient" : "",
	           f->msg.x_mss_ins[0] ? f->msg.x_mss_ins : "-", f->m->queue_id ? f->m->queue_id : "-",
	           d->error[0] && !d->error_code ? " note=" : "", d->error_code ? "" : d->error);
	/* INVISIBLE_PATIENT documents stay out of the patient's own history. */
	struct audit_event ev = {.actor = f->sender,
	                         .auth = policy_auth_name(f->m->sender->auth),
	                         .action = "vault.file",
	                         .target = target,
	                         .detail = detail,
	                         .result = result,
	                         .peer = f->m->sender->peer_ip,
	                         .patient = d->invisible_patient ? "" : f->patient};
	if (audit_append(f->store, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=vault.file error=\"%s\"", err);
}

static int index_doc(struct filing *f, const struct vault_doc *d, const char *user, const char *mailbox,
                     uint32_t uid, bool *changed)
{
	char err[256], sha[65];
	unsigned char h[32];
	int64_t one;
	struct sql *db = store_sql(f->store);
	crypto_hash_sha256(h, (const unsigned char *)d->data, d->len);
	str_hex(sha, h, sizeof h);
	*changed = false;
	if (d->unique_id[0]) {
		int r =
		    sql_one(db, "vault.document_exists",
		            "SELECT 1 FROM vault_document WHERE patient = ?1 AND unique_id = ?2",
		            SQL_ARGS(SQL_TEXT(f->patient), SQL_TEXT(d->unique_id)), &one, err, sizeof err);
		if (r < 0)
			log_err("vault_index", "patient=%s error=\"%s\"", f->patient, err);
		*changed = r == 1;
	}
	int rc = sql_exec(
	    db, "vault.document_insert",
	    "INSERT INTO vault_document (patient, class, type_code, mime, author, created, filed,"
	    " source_message_id, sender, unique_id, masked_ps, invisible_patient, store_user, mailbox, uid,"
	    " size, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
	    "?17)",
	    SQL_ARGS(SQL_TEXT(f->patient), SQL_TEXT(vault_class_name(d->cls)), SQL_TEXT(d->type_code),
	             SQL_TEXT(d->mime), SQL_TEXT(d->author), SQL_TEXT(d->created), SQL_INT(time(NULL)),
	             SQL_TEXT(f->msg.message_id), SQL_TEXT(f->sender), SQL_TEXT(d->unique_id),
	             SQL_INT(d->masked_ps), SQL_INT(d->invisible_patient), SQL_TEXT(user), SQL_TEXT(mailbox),
	             SQL_INT(uid), SQL_INT(d->len), SQL_TEXT(sha)),
	    err, sizeof err);
	if (rc < 0)
		log_err("vault_index", "patient=%s error=\"%s\"", f->patient, err);
	return rc == 1 ? 0 : -1;
}

/* Where a document goes: the patient's Documents/<Class>, or for INVISIBLE_PATIENT the
 * professionals-only store user. */
static int destination(struct filing *f, const struct vault_doc *d, char *user, size_t ulen, char *mbox,
                       size_t mlen)
{
	char err[256];
	const struct mss_config *cfg = store_config(f->store);
	if (!d->invisible_patient) {
		str_copy(user, ulen, f->patient);
		return str_format(mbox, mlen, "Documents/%s", vault_class_name(d->cls));
	}
	if (vault_ps_user(cfg, user, ulen) != 0 ||
	    vault_ps_mailbox(f->patient, vault_class_name(d->cls), mbox, mlen) != 0)
		return -1;
	if (store_user_exists(f->store, user) == 0 &&
	    store_user_create(f->store, user, err, sizeof err) < 0) {
		log_err("vault_ps_user", "error=\"%s\"", err);
		return -1;
	}
	return 0;
}

static int store_doc(struct filing *f, const struct vault_doc *d, char *target, size_t tlen, bool *changed)
{
	char user[300], mbox[600], err[256], domain[300];
	const struct mss_config *cfg = store_config(f->store);
	uint32_t uid = 0;
	struct buf msg;

	if (destination(f, d, user, sizeof user, mbox, sizeof mbox) != 0)
		return -1;
	str_copy(domain, sizeof domain, cfg->patient_domain);
	buf_init(&msg, BUF_UNLIMITED);
	int rc = vault_build_document(&msg, d, f->sender, f->patient, f->msg.message_id, domain);
	const char *rcpt[1] = {user};
	struct store_delivery sd = {.mail_from = "",
	                            .rcpts = rcpt,
	                            .nrcpt = 1,
	                            .mailbox = mbox,
	                            .data = msg.data,
	                            .len = msg.len,
	                            .flags = d->masked_ps ? VAULT_MASKED_KEYWORD : NULL};
	if (rc == 0 && store_deliver(f->store, &sd, &uid, err, sizeof err) != 0) {
		log_err("vault_store_failed", "patient=%s error=\"%s\"", f->patient, err);
		rc = -1;
	}
	buf_free(&msg);
	if (rc != 0)
		return -1;
	str_format(target, tlen, "%s%s%s UID %u", d->invisible_patient ? user : "",
	           d->invisible_patient ? ":" : "", mbox, uid);
	if (index_doc(f, d, user, mbox, uid, changed) != 0)
		log_err("vault_index_failed", "patient=%s mailbox=%s uid=%u", f->patient, mbox, uid);
	return 0;
}

static void file_all(struct filing *f, struct vault_notice_item *items, size_t *nitems)
{
	char target[900], result[200];
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		bool changed = false;
		if (d->error_code) {
			str_format(result, sizeof result, "refused: %d %s", d->error_code, d->error);
			audit_doc(f, d, "Documents", result);
			f->rep->refused++;
			continue;
		}
		if (store_doc(f, d, target, sizeof target, &changed) != 0) {
			audit_doc(f, d, "Documents", "error: document could not be stored");
			f->rep->refused++;
			continue;
		}
		audit_doc(f, d, target, "ok");
		f->rep->filed++;
		if (!d->invisible_patient)
			items[(*nitems)++] =
			    (struct vault_notice_item){vault_class_name(d->cls), d->author, changed};
	}
}

static int first_error(const struct filing *f)
{
	for (size_t i = 0; i < f->ndocs; i++)
		if (f->docs[i].error_code)
			return f->docs[i].error_code;
	return 0;
}

static void sender_identity(struct filing *f)
{
	struct account a;
	const struct policy_sender *s = f->m->sender;
	str_copy(f->sender, sizeof f->sender, s->account[0] ? s->account : f->m->mail_from);
	str_copy(f->sender_name, sizeof f->sender_name, f->sender);
	if (f->sender[0] && account_get(f->store, f->sender, &a) == 1 && a.name[0])
		str_copy(f->sender_name, sizeof f->sender_name, a.name);
}

static void report_refusals(struct filing *f)
{
	int code = first_error(f);
	if (!code)
		return;
	f->rep->error_code = code;
	int r = vault_send_ko(f->store, f->sender, f->patient, &f->msg, f->docs, f->ndocs, code);
	if (r != 0)
		log_warn("vault_ko_not_sent", "patient=%s sender=%s code=%d why=%s", f->patient, f->sender,
		         code, r > 0 ? "sender has no mailbox here" : "error");
}

int vault_file_message(struct store *store, const struct policy_message *m, const char *patient,
                       struct vault_file_report *rep)
{
	char err[256];
	struct filing *f = xcalloc(1, sizeof *f);
	struct vault_notice_item *items = xcalloc(VAULT_MAX_DOCS, sizeof *items);
	size_t nitems = 0;
	int rc = 0;

	memset(rep, 0, sizeof *rep);
	f->store = store;
	f->m = m;
	f->patient = patient;
	f->rep = rep;
	patient_ins_of(patient, f->patient_ins, sizeof f->patient_ins);
	sender_identity(f);
	if (vault_classes_init(store_config(store), err, sizeof err) != 0)
		log_err("vault_classes_file", "error=\"%s\"", err);
	if (vault_parse_message(m->data, m->len, &f->msg, err, sizeof err) != 0) {
		log_warn("vault_parse", "patient=%s queue_id=%s error=\"%s\"", patient, m->queue_id, err);
		rc = -1;
	} else {
		collect(f);
		settle_plain_docs(f);
		file_all(f, items, &nitems);
		report_refusals(f);
		if (nitems > 0)
			vault_notify_documents(store, patient, items, nitems);
	}
	log_info("vault_file", "patient=%s queue_id=%s filed=%u refused=%u code=%d", patient,
	         m->queue_id ? m->queue_id : "-", rep->filed, rep->refused, rep->error_code);
	for (size_t i = 0; i < f->nextracted; i++)
		buf_free(&f->extracted[i]);
	vault_parsed_free(&f->msg);
	free(items);
	free(f);
	return rc;
}

void vault_file_delivery(struct store *store, const struct policy_message *m)
{
	struct vault_file_report rep;
	struct account a;
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (account_get(store, m->rcpts[i], &a) == 1 && a.role == ROLE_PATIENT && !a.disabled)
			vault_file_message(store, m, a.address, &rep);
	}
}

/* vault_file_store.c: storing the documents of a filing (see vault_file.c), in two
 * steps (vault_filing.h). The filing plan, before the write transaction: one document
 * at a time, an archive entry is read, checked against its metadata (hash, size), its
 * message built, sealed and a large blob written, and its bytes released before the
 * next. The rows, in the transaction: a document whose bytes were already filed from
 * this message is not filed again; a replacement supersedes the version it replaces,
 * which stays in the folder marked $Superseded. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_filing.h"
#include "vault/vault_index.h"

/* Reads an archive entry's bytes into b and checks them. 0, or -1 (d refused). */
static int read_entry(struct filing *f, struct vault_doc *d, struct buf *b)
{
	const struct xdm_document *x = &d->item->md->docs[d->entry];
	struct cda_info ci;
	char err[200];
	if (xdm_read_document(d->item->xdm, x->uri, b, err, sizeof err) != 0 ||
	    xdm_check_document(x, b->data, b->len, err, sizeof err) != 0) {
		vault_refuse_doc(d, 906, err);
		return -1;
	}
	d->data = b->data;
	d->len = b->len;
	vault_sniff(b->data, b->len, x->mime_type, x->uri, d->mime, sizeof d->mime);
	if (strcmp(d->mime, "text/xml") == 0 && cda_parse(b->data, b->len, &ci, err, sizeof err) == 0)
		vault_cda_facts(f, d, &ci);
	return d->error_code ? -1 : 0;
}

/* true when these bytes were filed already from this message (and notes them). */
static bool seen(struct filing *f, const struct vault_doc *d, char sha[65])
{
	unsigned char h[32];
	crypto_hash_sha256(h, (const unsigned char *)d->data, d->len);
	str_hex(sha, h, sizeof h);
	for (size_t i = 0; i < f->nfiled_sha; i++)
		if (strcmp(f->filed_sha[i], sha) == 0)
			return true;
	f->filed_sha = xrealloc(f->filed_sha, (f->nfiled_sha + 1) * sizeof *f->filed_sha);
	memcpy(f->filed_sha[f->nfiled_sha++], sha, 65);
	return false;
}

/* Where a document goes: the patient's Documents/<Class>, or for INVISIBLE_PATIENT the
 * professionals-only store user. */
static int destination(struct filing *f, const struct vault_doc *d, char *user, size_t ulen, char *mbox,
                       size_t mlen)
{
	char err[256];
	const struct mss_config *cfg = store_config(f->store);
	if (!d->invisible_patient) {
		if (str_copy(user, ulen, f->rcpt->canonical) != 0)
			return -1;
		return str_format(mbox, mlen, "Documents/%s", vault_class_name(d->cls));
	}
	if (vault_ps_user(cfg, user, ulen) != 0 ||
	    vault_ps_mailbox(f->rcpt->canonical, vault_class_name(d->cls), mbox, mlen) != 0)
		return -1;
	if (store_user_exists(f->store, user) == 0 &&
	    store_user_create(f->store, user, err, sizeof err) < 0) {
		log_err("vault_ps_user", "error=\"%s\"", err);
		return -1;
	}
	return 0;
}

static void audit_doc(struct filing *f, const struct vault_doc *d, const char *target, const char *result)
{
	char detail[400], err[256];
	const struct msg_header *h = &f->d->msg.h;
	/* X-MSS-INS (O: the sender says the XDM carries a qualified INS) is recorded
	 * beside what the metadata showed, for whoever investigates a refusal. */
	str_assert(str_format(detail, sizeof detail,
	                      "class=%s type=%s mime=%s size=%zu renditions=%zu%s%s x-mss-ins=%s source=%s",
	                      vault_class_name(d->cls), d->type_code[0] ? d->type_code : "-", d->mime, d->len,
	                      d->nrenditions, d->masked_ps ? " masked_ps" : "",
	                      d->invisible_patient ? " invisible_patient" : "",
	                      h->x_mss_ins[0] ? h->x_mss_ins : "-",
	                      f->d->m->queue_id ? f->d->m->queue_id : "-"),
	           "a 64-byte type, a 128-byte mime, a 16-byte INS and queue id, two numbers: 370 < 400");
	/* INVISIBLE_PATIENT documents stay out of the patient's own history. */
	struct audit_event ev = {.actor = f->d->sender,
	                         .auth = policy_auth_name(f->d->m->sender->auth),
	                         .action = "vault.file",
	                         .target = target,
	                         .detail = detail,
	                         .result = result,
	                         .peer = f->d->m->sender->peer_ip,
	                         .patient = d->invisible_patient ? "" : f->rcpt->canonical};
	if (audit_append(f->store, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=vault.file error=\"%s\"", err);
}

/* The version d replaces, checked: an explicit replacement (RPLC) by another sender
 * than the one who filed the original is refused (901). 1 found, 0 none, -1 refused. */
static int replaced_version(struct filing *f, struct vault_doc *d, struct vault_version *old)
{
	char err[256];
	int r = vault_index_replaced(f->store, f->rcpt->canonical, d->replaces, d->unique_id, d->set_id,
	                             d->version, old, err, sizeof err);
	if (r < 0) {
		log_err("vault_index", "patient=%s error=\"%s\"", f->rcpt->canonical, err);
		return 0;
	}
	if (r == 1 && d->replaces[0] && !str_ieq(old->sender, f->d->sender)) {
		vault_refuse_doc(d, 901, "a replacement sent by another author than the original's");
		return -1;
	}
	return r;
}

/* The earlier version stays where it is, marked $Superseded (patients and
 * professionals alike see which one is current). */
static void supersede(struct filing *f, const struct vault_version *old, int64_t new_id)
{
	char err[256];
	struct store_mailbox mb;
	struct store_flags_result res;
	struct store_flags_req req = {.op = STORE_FLAGS_ADD, .keywords = VAULT_SUPERSEDED_KEYWORD};
	memset(&res, 0, sizeof res);
	if (vault_index_supersede(f->store, old->id, new_id, err, sizeof err) != 0 ||
	    store_mailbox_get(f->store, old->store_user, old->mailbox, &mb, err, sizeof err) != 1 ||
	    store_set_flags(f->store, mb.id, &old->uid, 1, &req, &res, err, sizeof err) != 0)
		log_err("vault_supersede", "patient=%s error=\"%s\"", f->rcpt->canonical, err);
	store_flags_result_free(&res);
}

static int index_doc(struct filing *f, const struct vault_doc *d, const char *user, const char *mbox,
                     uint32_t uid, const char *sha, int64_t *id)
{
	char err[256];
	struct vault_index_row row = {.patient = f->rcpt->canonical,
	                              .class_name = vault_class_name(d->cls),
	                              .type_code = d->type_code,
	                              .mime = d->mime,
	                              .author = d->author[0] ? d->author : f->d->sender_name,
	                              .created = d->created,
	                              .source_message_id = f->d->msg.h.message_id,
	                              .sender = f->d->sender,
	                              .unique_id = d->unique_id,
	                              .entry_uuid = d->entry_uuid,
	                              .set_id = d->set_id,
	                              .version = d->version,
	                              .created_time = d->created_time,
	                              .masked_ps = d->masked_ps,
	                              .invisible_patient = d->invisible_patient,
	                              .store_user = user,
	                              .mailbox = mbox,
	                              .uid = uid,
	                              .size = d->len,
	                              .sha256 = sha};
	if (vault_index_add(f->store, &row, id, err, sizeof err) != 0) {
		log_err("vault_index_failed", "patient=%s mailbox=%s uid=%u error=\"%s\"", f->rcpt->canonical,
		        mbox, uid, err);
		return -1;
	}
	return 0;
}

/* Builds d's message (the CDA rendered) and, with prep, prepares its delivery
 * (sealed, a large blob written and fsynced: before the transaction), else stores it
 * (in the transaction: uid). 0, or -1 logged. */
static int store_message(struct filing *f, const struct vault_doc *d, struct vault_doc_plan *p,
                         const char *replaced, struct store_prepared **prep, uint32_t *uid)
{
	const struct vault_doc *rend[VAULT_MAX_RENDITIONS];
	char err[256] = "";
	struct buf msg;
	for (size_t i = 0; i < d->nrenditions; i++)
		rend[i] = &f->docs[d->renditions[i]];
	struct vault_build b = {.doc = d,
	                        .renditions = rend,
	                        .nrenditions = d->nrenditions,
	                        .from = f->d->sender,
	                        .sender_name = f->d->sender_name,
	                        .patient = f->rcpt->canonical,
	                        .source_message_id = f->d->msg.h.message_id,
	                        .service_domain = store_config(f->store)->patient_domain,
	                        .timezone = store_config(f->store)->timezone,
	                        .replaced = replaced};
	buf_init_wiped(&msg, BUF_UNLIMITED);
	int rc = vault_build_document(&msg, &b);
	p->rcpt[0] = p->user; /* lives with the plan, as a prepared delivery needs */
	struct store_delivery sd = {.mail_from = "",
	                            .rcpts = p->rcpt,
	                            .nrcpt = 1,
	                            .mailbox = p->mbox,
	                            .data = msg.data,
	                            .len = msg.len,
	                            .internal_date = d->created_time,
	                            .flags = d->masked_ps ? VAULT_MASKED_KEYWORD : NULL};
	if (rc == 0)
		rc = prep != NULL ? store_deliver_prepare(f->store, &sd, prep, err, sizeof err)
		                  : store_deliver(f->store, &sd, uid, err, sizeof err);
	if (rc != 0)
		log_err("vault_store_failed", "patient=%s error=\"%s\"", f->rcpt->canonical,
		        err[0] ? err : "the document's message could not be built");
	buf_free(&msg);
	return rc;
}

/* The filing plan's part for d, before the transaction. 0 planned, 1 not (refused or
 * a duplicate). A replacement the read here finds refused (901) is left to the
 * transaction's current read, unprepared. */
static int plan_one(struct filing *f, struct vault_doc *d, struct vault_doc_plan *p)
{
	char err[256], when[64];
	if (seen(f, d, p->sha)) {
		p->duplicate = true;
		return 1;
	}
	p->replaced = vault_index_replaced(f->store, f->rcpt->canonical, d->replaces, d->unique_id, d->set_id,
	                                   d->version, &p->old, err, sizeof err) == 1;
	if (destination(f, d, p->user, sizeof p->user, p->mbox, sizeof p->mbox) != 0) {
		vault_refuse_doc(d, 906, "the document could not be stored");
		return 1;
	}
	p->vacc = vault_vacc_entries(f, d, &p->nvacc);
	if (p->replaced && d->replaces[0] && !str_ieq(p->old.sender, f->d->sender))
		return 0;
	if (p->replaced)
		mss_date_french(store_config(f->store)->timezone, p->old.filed, false, when, sizeof when);
	if (store_message(f, d, p, p->replaced ? when : NULL, &p->prepared, NULL) != 0) {
		vault_refuse_doc(d, 906, "the document could not be stored");
		return 1;
	}
	return 0;
}

/* In the transaction, d's message built and stored when the plan has it not prepared
 * (an archive entry read again: the plan released its bytes). */
static int store_now(struct filing *f, struct vault_doc *d, struct vault_doc_plan *p, const char *replaced,
                     uint32_t *uid)
{
	struct buf bytes;
	buf_init_wiped(&bytes, BUF_UNLIMITED);
	int rc =
	    d->from_xdm && read_entry(f, d, &bytes) != 0 ? -1 : store_message(f, d, p, replaced, NULL, uid);
	if (d->from_xdm)
		d->data = NULL;
	buf_free(&bytes);
	return rc;
}

/* Files one planned document (and its renditions), in the transaction. 0 filed, 1 not
 * (refused now). */
static int file_one(struct filing *f, struct vault_doc *d, struct vault_doc_plan *p)
{
	char target[1000], when[64], err[256];
	struct vault_version old;
	uint32_t uid = 0;
	int64_t id = 0;
	int r = replaced_version(f, d, &old); /* current: the plan's read may be stale */
	if (r < 0)
		return 1;
	if (r == 1)
		mss_date_french(store_config(f->store)->timezone, old.filed, false, when, sizeof when);
	if (p->prepared != NULL && (r != p->replaced || (r == 1 && old.filed != p->old.filed))) {
		store_deliver_free(f->store, p->prepared); /* its text names another version */
		p->prepared = NULL;
	}
	int rc = p->prepared != NULL ? store_deliver_rows(f->store, p->prepared, &uid, err, sizeof err)
	                             : store_now(f, d, p, r == 1 ? when : NULL, &uid);
	if (rc != 0) {
		if (p->prepared != NULL)
			log_err("vault_store_failed", "patient=%s error=\"%s\"", f->rcpt->canonical, err);
		vault_refuse_doc(d, 906, "the document could not be stored");
		return 1;
	}
	str_assert(str_format(target, sizeof target, "%s%s%s UID %u", d->invisible_patient ? p->user : "",
	                      d->invisible_patient ? ":" : "", p->mbox, uid),
	           "user 300, mailbox 600 and a number fit 1000");
	if (index_doc(f, d, p->user, p->mbox, uid, p->sha, &id) == 0 && r == 1)
		supersede(f, &old, id);
	audit_doc(f, d, target, "ok");
	vault_file_vaccinations(f, p->vacc, p->nvacc);
	if (!d->invisible_patient)
		f->notices[f->nnotices++] = (struct vault_notice_item){vault_class_name(d->cls), d->author,
		                                                       f->d->sender_name, r == 1};
	return 0;
}

void vault_file_plan(struct filing *f)
{
	f->plans = xcalloc(f->ndocs ? f->ndocs : 1, sizeof *f->plans);
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		struct buf bytes;
		if (d->rendition_of >= 0 || d->error_code)
			continue; /* filed with the document it renders; refused */
		buf_init_wiped(&bytes, BUF_UNLIMITED);
		if (!d->from_xdm || read_entry(f, d, &bytes) == 0)
			(void)plan_one(f, d, &f->plans[i]);
		if (d->from_xdm)
			d->data = NULL; /* an entry's bytes go now: one in memory at a time */
		buf_free(&bytes);
	}
}

void vault_file_rows(struct filing *f)
{
	char result[300];
	f->notices = xcalloc(f->ndocs ? f->ndocs : 1, sizeof *f->notices);
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		if (d->rendition_of >= 0 || (!d->error_code && f->plans[i].duplicate))
			continue; /* filed with the document it renders; filed already */
		if (!d->error_code && file_one(f, d, &f->plans[i]) == 0) {
			f->rep->filed++;
			continue;
		}
		str_assert(str_format(result, sizeof result, "refused: %d %s", d->error_code, d->error),
		           "a code and the 160-byte error fit 300");
		audit_doc(f, d, "Documents", result);
		f->rep->refused++;
		for (size_t k = 0; k < d->nrenditions; k++)
			vault_refuse_doc(&f->docs[d->renditions[k]], d->error_code,
			                 "sent with a refused document");
	}
}

void vault_file_plan_free(struct filing *f)
{
	for (size_t i = 0; f->plans != NULL && i < f->ndocs; i++) {
		store_deliver_free(f->store, f->plans[i].prepared);
		free(f->plans[i].vacc);
	}
	free(f->plans);
}

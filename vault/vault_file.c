/* vault_file.c: filing the documents of a delivered message into a patient's vault.
 *
 * Reads the delivery's one inspection (vault_inspect.h): every document part, every
 * entry of every IHE XDM archive. Order of work: collect the documents and check each
 * one's patient identity; settle which are the readable copies (renditions) of an
 * archive's documents; then plan them one at a time and write their rows. An archive
 * entry's bytes are read just before the document is built and sealed, and released
 * right after, so a filing holds one document at a time whatever the archive names
 * (and what each prepared one keeps: its sealed rows), within what max_message_size
 * lets the archives expand to; a file named twice (one URI in one archive, the same bytes
 * anywhere in the message) is filed once. Then the sender is told what was refused or
 * withheld, and the patient what was filed. The message is already stored in the
 * INBOX: nothing here can lose it. */
#include "vault/vault.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "audit/audit.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"
#include "vault/vault_filing.h"

static int classes_loaded;

int vault_classes_init(const struct mss_config *cfg, char *err, size_t errlen)
{
	if (classes_loaded)
		return 0;
	classes_loaded = 1;
	return vault_classes_load(cfg->vault_classes_file, err, errlen);
}

static struct vault_doc *new_doc(struct filing *f, const struct vault_item *it, int entry)
{
	if (f->ndocs == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->docs = xrealloc(f->docs, f->cap * sizeof *f->docs);
	}
	struct vault_doc *d = &f->docs[f->ndocs++];
	memset(d, 0, sizeof *d);
	d->item = it;
	d->entry = entry;
	d->cls = VAULT_AUTRES;
	d->rendition_of = -1;
	return d;
}

void vault_refuse_doc(struct vault_doc *d, int code, const char *why)
{
	if (d->error_code)
		return;
	d->error_code = code;
	str_error(d->error, sizeof d->error, "%s", why);
}

/* The four identity checks, in the order the service's codes are defined. */
void vault_check_identity(const struct filing *f, struct vault_doc *d, const char *ins, const char *oid)
{
	if (!ins[0])
		vault_refuse_doc(d, 903, "no patient INS in the document metadata");
	else if (!xdm_is_ins_oid(oid))
		vault_refuse_doc(
		    d, 905, "the patient identifier is not a qualified INS (unknown assigning authority)");
	else if (!f->rcpt->ins[0])
		vault_refuse_doc(d, 902,
		                 "the recipient mailbox is not identified by an INS: patient unknown");
	else if (strcmp(ins, f->rcpt->ins) != 0)
		vault_refuse_doc(d, 904, "the document's INS does not match the recipient patient");
}

/* What a CDA says of itself: type, title, date, version chain; and its patient. */
void vault_cda_facts(const struct filing *f, struct vault_doc *d, const struct cda_info *ci)
{
	if (ci->code[0] && !d->type_code[0])
		VAULT_FIELD_COPY(d->type_code, ci->code);
	if (ci->title[0] && !d->title[0])
		VAULT_FIELD_COPY(d->title, ci->title);
	if (!d->created_time && ci->effective_time[0]) {
		VAULT_FIELD_COPY(d->created, ci->effective_time);
		d->created_time = vault_hl7_time(ci->effective_time);
	}
	VAULT_FIELD_COPY(d->set_id, ci->set_id);
	d->version = ci->version;
	if (ci->ins[0])
		vault_check_identity(f, d, ci->ins, ci->oid);
}

/* A part that is one document (not an archive's entry). */
static void part_doc(struct filing *f, const struct vault_item *it)
{
	const struct msg_part *p = &f->d->msg.parts[it->part];
	struct vault_doc *d = new_doc(f, it, -1);
	d->data = it->data.data;
	d->len = it->data.len;
	VAULT_FIELD_COPY(d->mime, it->mime);
	VAULT_FIELD_COPY(d->filename, p->filename);
	if (it->has_cda) {
		d->has_own_identity = true;
		vault_cda_facts(f, d, &it->cda);
		d->cls_known = vault_classify_code(it->cda.code, &d->cls) == 0;
	}
}

/* One XDM entry; an entry naming a file an earlier entry named adds its flags to that
 * one (never weaker) instead of filing the file again. */
static void entry_doc(struct filing *f, const struct vault_item *it, size_t k)
{
	const struct xdm_document *x = &it->md->docs[k];
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *o = &f->docs[i];
		if (o->item == it && o->entry >= 0 && str_ieq(it->md->docs[o->entry].uri, x->uri)) {
			o->masked_ps |= x->masked_ps;
			o->invisible_patient |= x->invisible_patient;
			vault_check_identity(f, o, x->patient_ins, x->patient_oid);
			return;
		}
	}
	struct vault_doc *d = new_doc(f, it, (int)k);
	d->from_xdm = true;
	VAULT_FIELD_COPY(d->filename, x->uri);
	VAULT_FIELD_COPY(d->type_code, x->type_code);
	VAULT_FIELD_COPY(d->type_label, x->type_label);
	VAULT_FIELD_COPY(d->author, x->author);
	VAULT_FIELD_COPY(d->title, x->title);
	VAULT_FIELD_COPY(d->created, x->creation_time);
	d->created_time = vault_hl7_time(x->creation_time);
	VAULT_FIELD_COPY(d->unique_id, x->unique_id);
	VAULT_FIELD_COPY(d->entry_uuid, x->entry_id);
	VAULT_FIELD_COPY(d->replaces, x->replaces);
	d->masked_ps = x->masked_ps;
	d->invisible_patient = x->invisible_patient;
	vault_sniff(NULL, 0, x->mime_type, x->uri, d->mime, sizeof d->mime);
	if (vault_classify_code(x->type_code, &d->cls) != 0 &&
	    vault_classify_code(x->class_code, &d->cls) != 0) {
		char text[600];
		_Static_assert(sizeof text > sizeof x->title + sizeof x->type_label, "never cut");
		str_assert(str_format(text, sizeof text, "%s %s", x->title, x->type_label),
		           "the assertion above");
		d->cls = vault_classify_guess(d->mime, x->uri, text);
	}
	vault_check_identity(f, d, x->patient_ins, x->patient_oid);
}

static void collect(struct filing *f)
{
	const struct vault_inspection *in = &f->d->insp;
	for (size_t i = 0; i < in->nitems; i++) {
		const struct vault_item *it = &in->items[i];
		if (it->forwarded) /* another message's documents: not this sender's for this patient */
			continue;
		if (it->kind == VITEM_DOCUMENT || it->kind == VITEM_ARCHIVE) {
			part_doc(f, it);
		} else if (it->kind == VITEM_XDM) {
			for (size_t k = 0; k < it->md->ndocs; k++)
				entry_doc(f, it, k);
		} else if (it->kind == VITEM_UNINSPECTED) {
			struct vault_doc *d = new_doc(f, it, -1);
			VAULT_FIELD_COPY(d->mime, it->mime);
			vault_refuse_doc(d, 906, it->why[0] ? it->why : "not inspected");
		}
	}
}

static void log_filing(const struct filing *f)
{
	struct rusage ru;
	long maxrss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
	log_info("vault_file", "patient=%s qid=%s filed=%u refused=%u withheld=%d code=%d maxrss_kb=%ld",
	         f->rcpt->canonical, f->d->m->queue_id ? f->d->m->queue_id : "-", f->rep->filed,
	         f->rep->refused, f->withheld, f->rep->error_code, maxrss);
}

/* A patient's filing planned, before the transaction (vault_filing.h). */
static void plan_patient(struct filing *f, struct store *store, const struct vault_delivery *d,
                         const struct vault_rcpt *r, struct vault_file_report *rep)
{
	char err[256];
	*f = (struct filing){.store = store, .d = d, .rcpt = r, .rep = rep};
	memset(rep, 0, sizeof *rep);
	if (vault_classes_init(store_config(store), err, sizeof err) != 0)
		log_err("vault_classes_file", "error=\"%s\"", err);
	vault_copy_decide(&d->insp, r->ins, &f->plan);
	collect(f);
	vault_settle_renditions(f);
	vault_file_plan(f);
}

/* In the transaction: its rows, the sender's report, the patient's notice. */
static void file_patient(struct filing *f)
{
	vault_file_rows(f);
	vault_report(f);
	log_filing(f);
}

static void filing_free(struct filing *f)
{
	vault_file_plan_free(f);
	vault_copy_plan_free(&f->plan);
	free(f->docs);
	free(f->notices);
	free(f->filed_sha);
}

/* A message parsed whole whose parts are all text (its own text or HTML) has nothing
 * to file, withhold (vault_copy_decide keeps text) or report: no write lock is taken for
 * it, which the committer's next batch would wait for (an empty BEGIN and COMMIT a
 * plain message to a patient, after its delivery). */
static bool text_only(const struct vault_delivery *d)
{
	if (!d->parsed || !d->msg.complete)
		return false;
	for (size_t i = 0; i < d->insp.nitems; i++)
		if (d->insp.items[i].kind != VITEM_TEXT)
			return false;
	return true;
}

/* One delivery's filing between its steps: every patient's plan, then their rows. */
struct vault_filing_run {
	struct store *store;
	const struct vault_delivery *d;
	struct filing *fs;
	struct vault_file_report *reps;
	bool *planned;
	bool any;    /* a patient's filing is planned */
	bool writes; /* and it writes rows: a write transaction is needed */
};

bool vault_file_writes(const struct vault_delivery *d)
{
	if (text_only(d))
		return false;
	for (size_t i = 0; i < d->m->nrcpt; i++)
		if (d->rcpts[i].account && d->rcpts[i].role == ROLE_PATIENT && d->parsed)
			return true;
	return false;
}

struct vault_filing_run *vault_file_plan_all(struct store *store, const struct vault_delivery *d)
{
	size_t n = d->m->nrcpt;
	struct vault_filing_run *run = xcalloc(1, sizeof *run);
	*run = (struct vault_filing_run){.store = store,
	                                 .d = d,
	                                 .fs = xcalloc(n ? n : 1, sizeof *run->fs),
	                                 .reps = xcalloc(n ? n : 1, sizeof *run->reps),
	                                 .planned = xcalloc(n ? n : 1, sizeof *run->planned)};
	for (size_t i = 0; i < n; i++) {
		const struct vault_rcpt *r = &d->rcpts[i];
		if (!r->account || r->role != ROLE_PATIENT)
			continue;
		if (!d->parsed) {
			log_warn("vault_file", "patient=%s qid=%s error=\"the message cannot be parsed\"",
			         r->canonical, d->m->queue_id ? d->m->queue_id : "-");
			continue;
		}
		plan_patient(&run->fs[i], store, d, r, &run->reps[i]);
		run->planned[i] = run->any = true;
	}
	run->writes = run->any && !text_only(d);
	return run;
}

void vault_file_rows_all(struct vault_filing_run *run)
{
	for (size_t i = 0; run != NULL && i < run->d->m->nrcpt; i++)
		if (run->planned[i])
			file_patient(&run->fs[i]);
}

void vault_file_end(struct vault_filing_run *run, bool committed)
{
	if (run == NULL)
		return;
	for (size_t i = 0; i < run->d->m->nrcpt; i++) {
		if (!run->planned[i])
			continue;
		if (committed && run->reps[i].notice_kind != NULL)
			vault_notify_command(store_config(run->store), run->reps[i].notice_kind,
			                     run->d->rcpts[i].canonical);
		filing_free(&run->fs[i]);
	}
	free(run->planned);
	free(run->reps);
	free(run->fs);
	free(run);
}

/* A filing is one write transaction, whichever process files (issue 15): the document,
 * its index row, the superseded version's mark, the audit records, the vaccination
 * entries, the sender's report and the patient's notice all commit together, once.
 * Written one by one, each was a transaction of its own (six or seven a document): every
 * BEGIN IMMEDIATE contended for the lock with the other sessions and the committer, and
 * every commit of another process emptied this one's page cache (strace -c over 200
 * messages: 160 pread64 a message, 15,207 refused locks). The lock (SQLite's one writer
 * for the whole server) is held for the rows only: every patient's filing plan (the
 * documents read, rendered, built, sealed, their blob files written and fsynced) is
 * made before BEGIN, the same seam a committer writing rows a session computed needs.
 * notify_command runs after the commit, never under the lock nor for what was not
 * committed. A delivery's own transaction may hold it (vault_file_rows_all inside
 * the caller's: the session that delivers a message with documents itself), so that a
 * message is never stored without its filing. */
void vault_file_delivery(struct store *store, const struct vault_delivery *d)
{
	char err[256] = "";
	const char *qid = d->m->queue_id ? d->m->queue_id : "-";
	struct vault_filing_run *run = vault_file_plan_all(store, d);
	bool own = false;
	if (run->writes && !sql_in_transaction(store_sql(store))) /* else the caller's */
		own = store_batch_begin(store, err, sizeof err) == 0;
	if (run->any && !own && err[0]) /* each write then commits on its own, as it can */
		log_err("vault_file", "qid=%s error=\"%s\"", qid, err);
	vault_file_rows_all(run);
	bool committed = !own || store_batch_end(store, true, err, sizeof err) == 0;
	if (!committed)
		log_err("vault_file", "qid=%s error=\"not filed: %s\"", qid, err);
	vault_file_end(run, committed);
}

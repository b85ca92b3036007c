/* vault_filing.h: one filing run for one patient, shared by the files that do it
 * (vault_file.c collects, vault_file_settle.c pairs readable copies, vault_file_store.c
 * stores, vault_file_report.c tells the sender and the patient). Not for other parts. */
#ifndef MSS_VAULT_FILING_H
#define MSS_VAULT_FILING_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "vault/vault.h"
#include "vault/vault_copy.h"
#include "vault/vault_delivery.h"
#include "vault/vault_index.h"
#include "vault/vault_int.h"
#include "vault/vault_notify.h"

struct vault_vacc_entry;

/* One document's part of the filing plan (issue 15): what its filing computes before
 * the write transaction, so that inside it only the reads that must be current and the
 * row writes remain. The document's message is built (the CDA rendered), sealed to
 * its store user and, larger than store_inline_blob_max, its blob file written and
 * fsynced (store_deliver_prepare: a process killed before the commit leaves a file no
 * row names, which store_blob_sweep_pass removes). What the transaction reads again: the
 * version it replaces (current, its sender for 901): when that is not the one read
 * here (another filing's, or an earlier document's of this one), the message is built
 * again in the transaction, and its text names the right version. */
struct vault_doc_plan {
	struct store_prepared *prepared; /* NULL: built and stored in the transaction */
	bool duplicate;                  /* its bytes filed already from this message */
	char sha[65];
	char user[300], mbox[600];     /* where it goes (the professionals-only user exists) */
	const char *rcpt[1];           /* user, for the prepared delivery */
	int replaced;                  /* vault_index_replaced's answer before the transaction: 1, 0 */
	struct vault_version old;      /* the version it replaces then (replaced 1) */
	struct vault_vacc_entry *vacc; /* a vaccination document's entries (NULL: none) */
	size_t nvacc;
};

struct filing {
	struct store *store;
	const struct vault_delivery *d;
	const struct vault_rcpt *rcpt; /* the patient */
	struct vault_copy_plan plan;   /* what the patient's copy withheld */
	struct vault_doc *docs;
	size_t ndocs, cap;
	struct vault_doc_plan *plans;      /* one per document, from vault_file_plan */
	struct vault_notice_item *notices; /* one per document filed for the patient */
	size_t nnotices;
	char (*filed_sha)[65]; /* SHA-256 of the documents filed so far: a file goes once */
	size_t nfiled_sha;
	bool withheld; /* parts withheld from the copy without being filed */
	struct vault_file_report *rep;
};

void vault_refuse_doc(struct vault_doc *d, int code, const char *why);
void vault_check_identity(const struct filing *f, struct vault_doc *d, const char *ins, const char *oid);
/* What a CDA says of itself (type, title, date, version chain) into d, and its patient
 * checked. */
struct cda_info;
void vault_cda_facts(const struct filing *f, struct vault_doc *d, const struct cda_info *ci);
/* Pairs the documents sent beside an XDM archive with its documents (their readable
 * copies), or refuses them with an archive that was not inspected. */
void vault_settle_renditions(struct filing *f);
/* The filing plan, before the write transaction: every document that is not refused
 * read (an archive entry one at a time, released after), built and prepared (see
 * struct vault_doc_plan). Creates the professionals-only store user when a document
 * needs it (its own commit: an empty store user is all a crash can leave of it). */
void vault_file_plan(struct filing *f);
/* In the transaction: the plan's rows (documents, index rows, superseded marks, audit
 * records, vaccination entries), in the documents' order. */
void vault_file_rows(struct filing *f);
/* Frees the plan: a prepared document whose rows were not stored has its blob file
 * removed. */
void vault_file_plan_free(struct filing *f);
/* A vaccination document's entries for the patient's vaccination book (vault_vacc.h),
 * read from d's bytes while the plan has them: NULL (n 0) when d adds none. */
struct vault_vacc_entry *vault_vacc_entries(const struct filing *f, const struct vault_doc *d, size_t *n);
/* A vaccination document just filed: its entries recorded, without the patient's key.
 * Failures are logged: the document is filed. */
void vault_file_vaccinations(struct filing *f, const struct vault_vacc_entry *e, size_t n);
/* Integration report to the sender, notification to the patient, audit of what the
 * patient's copy withheld. */
void vault_report(struct filing *f);

#endif

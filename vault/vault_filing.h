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
#include "vault/vault_int.h"
#include "vault/vault_notify.h"

struct filing {
	struct store *store;
	const struct vault_delivery *d;
	const struct vault_rcpt *rcpt; /* the patient */
	struct vault_copy_plan plan;   /* what the patient's copy withheld */
	struct vault_doc *docs;
	size_t ndocs, cap;
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
/* Stores every document that is not refused, one at a time. */
void vault_file_all(struct filing *f);
/* A vaccination document d just filed: its entries recorded for the patient's
 * vaccination book (vault_file_vacc.c, vault_vacc.h), without the patient's key.
 * Failures are logged: the document is filed. */
void vault_file_vaccinations(struct filing *f, const struct vault_doc *d);
/* Integration report to the sender, notification to the patient, audit of what the
 * patient's copy withheld. */
void vault_report(struct filing *f);

#endif

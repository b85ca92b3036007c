/* vault_copy.h: the copy of a message that a patient's mailbox receives.
 *
 * The decision is a pure function of the inspection (vault_inspect.h) and of the
 * patient's INS, fuzzed (tests/fuzz/fuzz_vault_copy_decide.c). It withholds, fail
 * closed:
 * - an IHE XDM archive holding an INVISIBLE_PATIENT document (REFERENCE.md: never shown
 *   to the patient), and one holding a document whose INS names another patient (the
 *   other patient's data, refused 904 by the filing); a CDA sent alone naming another
 *   patient likewise;
 * - every part that was not inspected (vault_inspect.h says when);
 * - when such an archive (or a ZIP that was not inspected) is withheld, the documents
 *   sent beside it (its readable copies: the PDF of each CDA);
 * - a forwarded message (message/rfc822) as a whole when anything inside it is;
 * - everything but the headers when the message's structure could not be described
 *   whole (msg.complete false) or its only body is withheld.
 * It also drops the "XDM/1.0/DDM+" prefix of the subject (REFERENCE.md: clients hide
 * it; the patient's do not). Anything withheld gives the copy its own Message-ID, and a
 * short French note takes the place of what was withheld. */
#ifndef MSS_VAULT_COPY_H
#define MSS_VAULT_COPY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "vault/vault_inspect.h"

#define VAULT_XDM_SUBJECT_PREFIX "XDM/1.0/DDM+"

enum vault_withhold {
	VW_KEEP = 0,
	VW_INVISIBLE,     /* INVISIBLE_PATIENT, or beside such an archive */
	VW_OTHER_PATIENT, /* names another patient (904), or beside such an archive */
	VW_UNINSPECTED,   /* not inspected, or beside such an archive */
};

struct vault_copy_plan {
	enum vault_withhold *parts; /* one per msg part (owned); a withheld part takes its
	                               descendants with it */
	size_t nparts;
	bool whole;        /* the body goes whole (only the message's text, if described, stays) */
	bool strip_prefix; /* the subject loses "XDM/1.0/DDM+" */
	unsigned invisible, other_patient, uninspected; /* withheld leaf parts, by reason */
};

/* Decides patient's copy (patient_ins: the 15-digit INS of the patient's address, ""
 * when it has none). Returns 0 (plan filled; vault_copy_plan_free), -1 on memory only. */
int vault_copy_decide(const struct vault_inspection *in, const char *patient_ins,
                      struct vault_copy_plan *plan);
void vault_copy_plan_free(struct vault_copy_plan *plan);
/* true when something is withheld (a new Message-ID and a note). */
bool vault_copy_withholds(const struct vault_copy_plan *plan);
/* true when the copy differs from the message as sent. */
bool vault_copy_changes(const struct vault_copy_plan *plan);
/* to gets a copy of from (its own parts; vault_copy_plan_free). */
void vault_copy_plan_copy(const struct vault_copy_plan *from, struct vault_copy_plan *to);
/* true when plan, decided by another process (the committer's sessions: vault_message.h
 * policy_message.copies), can be built from m as this process parsed it: a part per
 * part of m (or none, with the body going whole), each a known reason, and the
 * subject's prefix dropped only when m's subject has it. Anything else is refused, not
 * guessed at. */
bool vault_copy_plan_fits(const struct vault_copy_plan *plan, const struct msg *m);
/* true when both plans build the same copy (patients who may share one delivery). */
bool vault_copy_same(const struct vault_copy_plan *a, const struct vault_copy_plan *b);

/* Builds the copy the plan describes from the message m (vault_copy_changes true) into
 * out, a BUF_UNLIMITED buffer.
 * Returns 0, or -1 when a part's range does not fit the message (never with msg/'s
 * ranges; refused rather than guessed). */
int vault_copy_build(const struct mss_config *cfg, const struct msg *m, const struct vault_copy_plan *plan,
                     struct buf *out);

#endif

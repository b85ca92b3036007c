/* vault_vitals.h: the vital signs a patient records (DESIGN.md "The medical profile,
 * vital signs and vaccination book"): one message per measurement in the patient's
 * folder "Constantes".
 *
 * Each measurement is a LOINC-coded kind, a value, its UCUM unit and the time it was
 * taken. The message carries a readable French text, a FHIR R4 Observation (JSON,
 * application/fhir+json) beside it, and one machine header
 *   X-MSS-Vital: <LOINC> <value> <unit> <unix time>
 * which is what this part reads back (no JSON parse to list them). A value outside the
 * kind's plausible range is refused with the reason (e.g. systolic pressure outside
 * 50-300 mmHg): the range is a typing guard, not a medical judgement. Values are kept
 * in hundredths (integers), so that no float formatting changes what was typed. */
#ifndef MSS_VAULT_VITALS_H
#define MSS_VAULT_VITALS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "vault/vault_access.h"

#define VAULT_VITALS_MAILBOX "Constantes"

struct vault_vital_kind {
	const char *loinc;      /* "8480-6" */
	const char *label;      /* "Pression artérielle systolique" */
	const char *unit;       /* UCUM, "mm[Hg]" */
	const char *unit_shown; /* "mmHg" */
	int64_t min, max;       /* plausible range, in hundredths */
	unsigned decimals;      /* digits after the comma a value may have */
};

/* The kinds, in display order; *n gets their number. */
const struct vault_vital_kind *vault_vital_kinds(size_t *n);
/* The kind of a LOINC code, NULL when it is not one of them. */
const struct vault_vital_kind *vault_vital_kind(const char *loinc);

/* Parses a value as a patient types it ("120", "37,5", "37.5") into hundredths and
 * checks it against k. Returns 0, or -1 with a French reason in why. */
int vault_vital_parse(const struct vault_vital_kind *k, const char *text, int64_t *hundredths, char *why,
                      size_t whylen);
/* "37,5" for 3750 with k's decimals. */
#define VAULT_VITAL_SIZE 32 /* outlen of vault_vital_format, at least */
void vault_vital_format(const struct vault_vital_kind *k, int64_t hundredths, char *out, size_t outlen);

/* Files one measurement of patient (the folder made on first use) and audits it
 * (vital.add, without the value). Returns 0, or -1 with err. */
int vault_vital_add(struct store *st, const struct vault_actor *who, const char *patient,
                    const struct vault_vital_kind *k, int64_t hundredths, int64_t when, char *err,
                    size_t errlen);

struct vault_vital {
	const struct vault_vital_kind *kind;
	int64_t value; /* hundredths */
	int64_t when;  /* unix time */
	uint32_t uid;
};
/* Calls fn for each measurement of patient (folder order: oldest filed first); fn
 * returns nonzero to stop. Messages without a readable X-MSS-Vital are skipped.
 * Returns 0 or -1. */
int vault_vitals_foreach(struct store *st, const char *patient,
                         int (*fn)(const struct vault_vital *v, void *arg), void *arg);

#endif

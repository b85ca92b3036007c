/* vault_profile.h: the patient's medical profile (DESIGN.md "The medical profile,
 * vital signs and vaccination book"): allergies, medical history, family history,
 * current treatments and emergency contacts, what matters in an emergency.
 *
 * Each section is one message in the patient's folder "Profil", written by the patient
 * (mss-webd's page, or a mail client: a message APPENDed to Profil whose Subject names
 * the section and whose text lists the items, one per line). A change files a new
 * version: a new message, and the earlier one stays, marked $Superseded (as a replaced
 * document), so that the folder keeps the versions and shows which one is current.
 * Each message carries a readable French text, a FHIR R4 Bundle (JSON,
 * application/fhir+json) beside it (AllergyIntolerance, Condition,
 * FamilyMemberHistory, MedicationStatement or RelatedPerson resources), and one
 * machine header
 *   X-MSS-Profile: <section code> <version>
 * Items are read back from the text part (lines "- item"). Bad input is refused with a
 * French reason and changes nothing. A change is audited ("profile.update": section,
 * version and number of items, never the content). */
#ifndef MSS_VAULT_PROFILE_H
#define MSS_VAULT_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "vault/vault_access.h"

#define VAULT_PROFILE_MAILBOX "Profil"
#define VAULT_PROFILE_ITEMS_MAX 30 /* items of one section */
#define VAULT_PROFILE_ITEM_MAX 300 /* bytes of one item (200 characters said to the patient) */
#define VAULT_PROFILE_ITEM_CHARS 200

struct vault_profile_section {
	const char *code;  /* "allergies": the header, the form field, a mail's Subject */
	const char *label; /* "Allergies" */
	const char *fhir;  /* the FHIR resource type of its items */
	const char *help;  /* how to type an item, in French */
};

/* The sections, in display order; *n gets their number. */
const struct vault_profile_section *vault_profile_sections(size_t *n);
/* The section whose code or label is name (case-insensitive, blanks around ignored),
 * NULL when none. */
const struct vault_profile_section *vault_profile_section(const char *name);

struct vault_profile_items {
	char item[VAULT_PROFILE_ITEMS_MAX][VAULT_PROFILE_ITEM_MAX];
	size_t n;
};

/* Reads a section as the patient typed it: one item per line, blank lines skipped, a
 * leading "- ", "* " or "• " dropped, the text stopped at a signature line "-- ". Checks
 * it: valid UTF-8, no control characters, at most VAULT_PROFILE_ITEMS_MAX items of
 * VAULT_PROFILE_ITEM_CHARS characters; an emergency contact is "Nom ; téléphone" with
 * an optional "; lien", the number made of 6 to 20 digits (spaces, dots, dashes and
 * a leading + allowed). No item at all is allowed (nothing to declare). Returns 0, or
 * -1 with a French reason in why. */
int vault_profile_parse(const struct vault_profile_section *sec, const char *text,
                        struct vault_profile_items *out, char *why, size_t whylen);

/* The current version of a section. */
struct vault_profile_current {
	unsigned version; /* 0: never written */
	int64_t when;     /* when it was written */
	uint32_t uid;     /* its message in Profil */
	bool masked;      /* the patient masked it from professionals ($Masked) */
	struct vault_profile_items items;
};

/* Reads the current version of sec for patient into out (version 0 when none).
 * Returns 0 or -1. */
int vault_profile_get(struct store *st, const char *patient, const struct vault_profile_section *sec,
                      struct vault_profile_current *out);

/* Files items as the next version of sec (the folder made on first use), marks the
 * previous one $Superseded and audits it, all in one write transaction under the lock
 * "vault.profile": two edits at once become two versions, never one lost. base is the
 * version the edit was made from (the page's form, a mail replying to "(version N)"),
 * -1 when unknown: an edit whose base is no longer the current version is refused.
 * Returns 0 with *version and *uid (its message in Profil; uid may be NULL), 1 refused
 * (base outdated: a French reason in err, nothing filed), or -1 with err. */
int vault_profile_set(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_profile_section *sec, const struct vault_profile_items *items,
                      long base, unsigned *version, uint32_t *uid, char *err, size_t errlen);

/* A section sent from a mail client (data, len: a whole message): its Subject names
 * the section (code or label, optionally after "Profil médical :"; a reply to a
 * version, "... (version N)", is based on that version), its first text part lists the
 * items. Parsed and filed as vault_profile_set does. Returns 0 with
 * *sec, *version and *uid, 1 refused with a French reason in err (nothing filed), -1 error
 * with err. */
int vault_profile_from_message(struct store *st, const struct vault_actor *who, const char *patient,
                               const char *data, size_t len, const struct vault_profile_section **sec,
                               unsigned *version, uint32_t *uid, char *err, size_t errlen);

/* A section sent over SMTP submission (vault_profile_mail.c): an authenticated
 * patient's message to their own address only, whose Subject is "Profil médical :
 * <section>" (after any "Re:"), filed as vault_profile_from_message does instead of
 * being stored in INBOX. Returns 0 when d is no such message (deliver it as any), 1
 * filed (nothing else to store), 2 refused with an ASCII reason for the SMTP reply in
 * why (nothing stored), -1 error with why. */
struct vault_delivery;
int vault_profile_mail(struct store *st, const struct vault_delivery *d, char *why, size_t whylen);

/* The message of one version (for vault_profile_store.c): French text and FHIR Bundle.
 * Returns 0 or -1. */
struct buf;
int vault_profile_build(struct buf *b, const char *patient, const char *zone,
                        const struct vault_profile_section *sec, const struct vault_profile_items *items,
                        unsigned version, int64_t when);

#endif

/* vault_vacc.h: the patient's vaccination book (DESIGN.md "The medical profile, vital
 * signs and vaccination book"): the message "Carnet de vaccination" in the patient's
 * folder "Vaccinations", rebuilt from the vaccination documents filed (a document of the
 * class Vaccinations, vault_classify.c's LOINC table: its CDA's immunizations, or the
 * document itself when it has none to read) and the vaccinations the patient declares
 * (mss-webd's page /vaccinations; marked as self-declared, never confused with what a
 * professional recorded). Each entry says the vaccine, the date, the dose and who
 * vaccinated.
 *
 * The book is one message: a French text (one line per vaccination, oldest first), a
 * FHIR R4 Bundle of Immunization resources (JSON, application/fhir+json) beside it, and
 * the machine header
 *   X-MSS-Vaccination: <version> <number of entries>
 * The Bundle is what is read back to rebuild the book. Reading it needs the patient's
 * key, which only the patient's own sessions hold; filing is write-only (issue 12: an
 * MX or submission session holds no key of the patient's). So a filed document does
 * not touch the book: its entries go into a message of their own in Vaccinations
 * ("Vaccinations à ajouter au carnet", X-MSS-Vaccination-Entries, sealed to the patient
 * and to the professionals who may read the folder) and a row marks the book stale
 * (vault_vacc_stale, no key). The patient's own sessions rebuild it: mss-imapd before
 * LIST, STATUS, SELECT and EXAMINE answer (and at login), mss-webd before /vaccinations.
 * A professional reading the shared folder meanwhile sees the last book and the
 * messages of entries beside it.
 *
 * A rebuild reads every book message and every message of entries the folder holds,
 * merges their entries (and any new declared one), writes the next version and then
 * removes the messages it read: two rebuilds at once leave two books for a moment,
 * whose union the next one merges, never an entry lost. An entry that is already in the
 * book (same vaccine, date, dose, who and origin) is not added twice. Entries of a
 * document masked from professionals (MASQUE_PS) are not put in the book, which
 * professionals read: the document stays in Documents/Vaccinations for the patient.
 * Each rebuild is audited (vaccination.add: origin and number of new entries, never a
 * vaccine's name), a filed document's entries as the actor who filed them. */
#ifndef MSS_VAULT_VACC_H
#define MSS_VAULT_VACC_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "vault/vault_access.h"

#define VAULT_VACC_MAILBOX "Vaccinations"
#define VAULT_VACC_SUBJECT "Carnet de vaccination"
#define VAULT_VACC_MAX 300        /* entries in a book (and read from one document) */
#define VAULT_VACC_TEXT 304       /* bytes of a vaccine's or a person's name */
#define VAULT_VACC_TEXT_CHARS 100 /* the same in characters, said to the patient */
#define VAULT_VACC_DOSE 64
#define VAULT_VACC_DOSE_CHARS 30

struct vault_vacc_entry {
	char vaccine[VAULT_VACC_TEXT]; /* "DTCaP (Repevax)" */
	char date[11];                 /* YYYY-MM-DD */
	char dose[VAULT_VACC_DOSE];    /* "2", "rappel", "0,5 mL"; "" unknown */
	char who[VAULT_VACC_TEXT];     /* who vaccinated; "" unknown */
	bool self_declared;            /* typed by the patient, not from a professional */
};

struct vault_vacc_book {
	struct vault_vacc_entry e[VAULT_VACC_MAX];
	size_t n;
	unsigned version; /* 0: no book yet */
};

/* The immunizations a CDA R2 document records (substanceAdministration entries in the
 * event mood, not negated): the vaccine (manufacturedMaterial's name, else its code's
 * displayName), the date (effectiveTime, else the document's), the dose (the
 * entryRelationship's sequenceNumber or a "dose number" observation, LOINC 30973-2,
 * else doseQuantity), who (the performer's name). At most max entries; text cleaned
 * (blanks folded, control characters dropped, cut at a character boundary). Pure
 * (fuzzed with the CDA reader, tests/fuzz/fuzz_cda.c); expat, no DOCTYPE. Returns 0
 * with *n (0 when the document records none), -1 with err when it is not a
 * well-formed ClinicalDocument. */
int vault_vacc_from_cda(const char *xml, size_t len, struct vault_vacc_entry *out, size_t max, size_t *n,
                        char *err, size_t errlen);

/* Checks a vaccination the patient declares (the page's fields, any may be NULL): the
 * vaccine (1 to VAULT_VACC_TEXT_CHARS characters), the date (YYYY-MM-DD, a real day
 * from 1900 to today in the configured zone), the dose and who (optional, at most
 * VAULT_VACC_DOSE_CHARS / VAULT_VACC_TEXT_CHARS characters); valid UTF-8 without
 * control characters. Returns 0 with out filled (self_declared), or -1 with a French
 * reason in why. today is "YYYY-MM-DD". */
int vault_vacc_check(const char *vaccine, const char *date, const char *dose, const char *who,
                     const char *today, struct vault_vacc_entry *out, char *why, size_t whylen);

/* Reads the patient's book (every book message merged; version the highest) into out
 * (n 0 when there is none). Returns 0 or -1. */
int vault_vacc_read(struct store *st, const char *patient, struct vault_vacc_book *out);

/* Adds n entries to the patient's book and rebuilds it (the folder made on first use),
 * with the entries waiting for it; the n entries audited as who. Needs the patient's
 * key: their own session only. Returns 0 with *added (of the n, those that were new;
 * the book is rewritten only when an entry was), or -1 with err. */
int vault_vacc_add(struct store *st, const struct vault_actor *who, const char *patient,
                   const struct vault_vacc_entry *e, size_t n, size_t *added, char *err, size_t errlen);

/* Rebuilds the patient's book when it is stale (entries filed since: one lookup, no
 * key, when it is not). Needs the patient's key: their own session only. Returns 1
 * rebuilt, 0 nothing to do, -1 with err (the entries stay for the next time). */
int vault_vacc_refresh(struct store *st, const char *patient, char *err, size_t errlen);

/* Records n entries of a document who filed for the next rebuild (vault_vacc_pending.c):
 * a message of entries appended to Vaccinations (masked when the book is), and the book
 * marked stale. Write-only: reads nothing that needs the patient's key. Returns 0 or -1
 * with err. */
int vault_vacc_record(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_vacc_entry *e, size_t n, char *err, size_t errlen);

#endif

/* directory_entry.h: approved professionals and organisations (the national directory).
 *
 * One entry per mailbox address (BAL), imported from the public "Extraction
 * Correspondance MSSanté" file; an address may belong to several structures, each
 * kept. Tables (migration component "directory_entries", see directory_schema.c):
 * directory_entry, directory_structure. Results are copied into plain structs. */
#ifndef MSS_DIRECTORY_ENTRY_H
#define MSS_DIRECTORY_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mss_limits.h"
#include "store/store.h"

/* Field sizes, NUL included. A field longer than this makes its line unreadable
 * (never silently cut: a cut address or identifier would be a different one). */
#define DIR_ADDRESS_MAX MSS_ADDRESS_SIZE
#define DIR_CODE_MAX 32
#define DIR_TEXT_MAX 256

struct dir_entry {
	char address[DIR_ADDRESS_MAX];  /* lowercase */
	char bal_type[8];               /* PER, ORG, APP, CAB */
	char id_type[DIR_CODE_MAX];     /* RPPS, ADELI, or the file's raw code; "" when none */
	char id_value[DIR_CODE_MAX];    /* the RPPS/ADELI number */
	char national_id[DIR_CODE_MAX]; /* "Identification nationale PP" (type digit + number) */
	char civility[DIR_CODE_MAX];
	char last_name[DIR_TEXT_MAX];
	char first_name[DIR_TEXT_MAX];
	char profession_code[DIR_CODE_MAX];
	char profession_label[DIR_TEXT_MAX];
	char speciality_code[DIR_CODE_MAX]; /* savoir-faire */
	char speciality_label[DIR_TEXT_MAX];
	bool active;
};

/* One structure an address belongs to (one per line of the file). */
struct dir_structure {
	char id_type[DIR_CODE_MAX]; /* FINESS, SIRET, SIREN, RPPS (rang), or raw code */
	char id_value[DIR_CODE_MAX];
	char name[DIR_TEXT_MAX];    /* Raison sociale structure BAL */
	char service[DIR_TEXT_MAX]; /* Service de rattachement */
	char postcode[DIR_CODE_MAX];
};

/* Loads the entry of address (case-insensitive). Returns 1 found, 0 not found, -1 error. */
int dir_entry_get(struct store *st, const char *address, struct dir_entry *out);

/* Calls fn for each structure of address, in a stable order; fn returning non-zero
 * stops. Returns the number of structures, or -1 on a database error. */
int dir_structure_foreach(struct store *st, const char *address,
                          int (*fn)(const struct dir_structure *s, void *arg), void *arg);

/* Calls fn for each entry whose address, name, first name, identifier, profession
 * label, speciality label or structure name contains text (case-insensitive for ASCII),
 * at most limit entries, in address order. Returns the number found or -1. */
int dir_entry_search(struct store *st, const char *text, unsigned limit,
                     int (*fn)(const struct dir_entry *e, void *arg), void *arg);

/* Sets the administrator's active flag; made inactive, the address's sessions are
 * woken (store_account_wake: imapd ends their views of patients' vaults, which an
 * inactive entry no longer reads). Returns 0, 1 when there is no such entry, -1. */
int dir_entry_set_active(struct store *st, const char *address, bool active);

/* True (1) when address is an active entry whose BAL type is ORG and whose profession
 * code is in codes (comma/space separated list, e.g. "21"): a pharmacy a patient may
 * write to first. 0 when not, -1 on error. */
int dir_entry_is_pharmacy(struct store *st, const char *address, const char *codes);

/* Number of entries, for reports. -1 on error. */
int64_t dir_entry_count(struct store *st);

#endif

/* vault_index.h: the table vault_document, one row per filed document.
 *
 * It says where each document is stored (store user, mailbox, UID), what it is (class,
 * type code, MIME type, dates, SHA-256) and which version of which document it is
 * (XDS uniqueId and entryUUID, CDA setId and versionNumber), so that a replacement
 * finds the version it supersedes. No titles, no file names: those stay in the
 * encrypted message. */
#ifndef MSS_VAULT_INDEX_H
#define MSS_VAULT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct vault_index_row {
	int64_t id;
	const char *patient, *class_name, *type_code, *mime, *author, *created, *source_message_id, *sender;
	const char *unique_id, *entry_uuid, *set_id;
	int version;
	int64_t created_time;
	bool masked_ps, invisible_patient;
	const char *store_user, *mailbox;
	uint32_t uid;
	uint64_t size;
	const char *sha256;
};

/* Adds a row; *id gets its id. Returns 0 or -1 with err. */
int vault_index_add(struct store *st, const struct vault_index_row *r, int64_t *id, char *err, size_t errlen);

/* An earlier version of a document, as stored. */
struct vault_version {
	int64_t id;
	char sender[256];
	char store_user[256];
	char mailbox[512];
	uint32_t uid;
	int version;
	int64_t created_time;
	int64_t filed;
};
/* Finds the patient's current (not yet superseded) document that a new one replaces:
 * the entry whose entryUUID an RPLC association names (replaces), else the same XDS
 * uniqueId sent again, else the same CDA setId with a lower versionNumber. Returns 1
 * with *out, 0 when there is none, -1 with err. */
int vault_index_replaced(struct store *st, const char *patient, const char *replaces, const char *unique_id,
                         const char *set_id, int version, struct vault_version *out, char *err,
                         size_t errlen);
/* Marks old_id as superseded by new_id. Returns 0 or -1 with err. */
int vault_index_supersede(struct store *st, int64_t old_id, int64_t new_id, char *err, size_t errlen);

#endif

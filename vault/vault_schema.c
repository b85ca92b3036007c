/* vault_schema.c: the vault's tables and the service addresses it uses. */
#include "vault/vault.h"
#include "vault/vault_schema.h"

#include <string.h>

#include "lib/str.h"

/* Addresses are stored lowercase; no titles or file names are kept here (they stay in
 * the encrypted message). */
static const struct sql_migration vault_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE vault_document ("
               " id INTEGER PRIMARY KEY,"
               " patient TEXT NOT NULL COLLATE NOCASE,"
               " class TEXT NOT NULL, type_code TEXT NOT NULL, mime TEXT NOT NULL,"
               " author TEXT NOT NULL, created TEXT NOT NULL, filed INTEGER NOT NULL,"
               " source_message_id TEXT NOT NULL, sender TEXT NOT NULL, unique_id TEXT NOT NULL,"
               " masked_ps INTEGER NOT NULL, invisible_patient INTEGER NOT NULL,"
               " store_user TEXT NOT NULL, mailbox TEXT NOT NULL, uid INTEGER NOT NULL,"
               " size INTEGER NOT NULL, sha256 TEXT NOT NULL);"
               "CREATE INDEX vault_document_patient ON vault_document(patient, unique_id);"
               "CREATE TABLE vault_grant ("
               " patient TEXT NOT NULL COLLATE NOCASE,"
               " professional TEXT NOT NULL COLLATE NOCASE,"
               " rights TEXT NOT NULL DEFAULT 'lr',"
               " created INTEGER NOT NULL,"
               " created_by TEXT NOT NULL,"
               " PRIMARY KEY (patient, professional)) WITHOUT ROWID;"
               "CREATE TABLE vault_notice ("
               " patient TEXT NOT NULL COLLATE NOCASE,"
               " professional TEXT NOT NULL COLLATE NOCASE,"
               " last INTEGER NOT NULL,"
               " PRIMARY KEY (patient, professional)) WITHOUT ROWID;"},
    /* the last audit record copied into each patient's Historique folder */
    {.version = 2,
     .sqlite = "CREATE TABLE vault_history_sync ("
               " patient TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,"
               " last_seq INTEGER NOT NULL) WITHOUT ROWID;"},
    /* versions (XDS replacement, CDA setId/versionNumber) and the document's own date */
    {.version = 3,
     .sql = "ALTER TABLE vault_document ADD COLUMN entry_uuid TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE vault_document ADD COLUMN set_id TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE vault_document ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE vault_document ADD COLUMN created_time INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE vault_document ADD COLUMN superseded_by INTEGER;"
            "CREATE INDEX vault_document_entry ON vault_document(patient, entry_uuid);"
            "CREATE INDEX vault_document_set ON vault_document(patient, set_id);"},
    /* patients' blocks (vault_access.h), created by directory_entries step 1 in
     * databases made before the vault owned them */
    {.version = 4,
     .sqlite = "CREATE TABLE IF NOT EXISTS patient_blocks ("
               " patient TEXT NOT NULL,"
               " professional TEXT NOT NULL,"
               " created INTEGER NOT NULL,"
               " PRIMARY KEY (patient, professional)) WITHOUT ROWID;"},
};

const struct sql_schema vault_schema = {"vault", vault_migrations,
                                        sizeof vault_migrations / sizeof vault_migrations[0]};

int vault_service_address(const struct mss_config *cfg, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s@%s", VAULT_SERVICE_LOCALPART, cfg->patient_domain);
}

int vault_ps_user(const struct mss_config *cfg, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s@%s", VAULT_PS_LOCALPART, cfg->patient_domain);
}

int vault_ps_mailbox(const char *patient, const char *class_name, char *out, size_t outlen)
{
	char p[256];
	str_copy(p, sizeof p, patient);
	str_lower(p);
	return str_format(out, outlen, "%s/Documents/%s", p, class_name);
}

bool vault_is_documents_mailbox(const char *name)
{
	return strcmp(name, "Documents") == 0 || strncmp(name, "Documents/", 10) == 0;
}

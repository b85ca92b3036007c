/* vault_schema.h: the vault's tables (component "vault": vault_document, vault_grant,
 * vault_notice, vault_history_sync, patient_blocks), for policy/'s list of every
 * part's schema. */
#ifndef MSS_VAULT_SCHEMA_H
#define MSS_VAULT_SCHEMA_H

#include "lib/sql.h"

extern const struct sql_schema vault_schema;

#endif

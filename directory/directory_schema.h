/* directory_schema.h: tables of the national directory and the trust list (migration
 * component "directory_entries").
 *
 *   directory_entry(address PK, bal_type, id_type, id_value, national_id, civility,
 *                   last_name, first_name, profession_code, profession_label,
 *                   speciality_code, speciality_label, active, updated, digest)
 *   directory_structure(address, id_type, id_value, name, service, postcode)
 *   trust_domain(domain, dn_key, dn, description, updated)   dn_key: dn_canonical()
 * (patients' blocks are the vault's: vault_schema.h; authorised contacts the
 * policy's: policy/policy_schema.h) */
#ifndef MSS_DIRECTORY_SCHEMA_ENTRIES_H
#define MSS_DIRECTORY_SCHEMA_ENTRIES_H

/* The tables are migrated as directory_entries_schema (schema.h). */
#include "directory/schema.h"

#endif

/* directory_schema.h: tables of the national directory, the trust list, patients'
 * blocks and authorised contacts (migration component "directory_entries").
 *
 *   directory_entry(address PK, bal_type, id_type, id_value, national_id, civility,
 *                   last_name, first_name, profession_code, profession_label,
 *                   speciality_code, speciality_label, active, updated, digest)
 *   directory_structure(address, id_type, id_value, name, service, postcode)
 *   trust_domain(domain, dn_key, dn, description, updated)   dn_key: dn_canonical()
 *   patient_blocks(patient, professional, created)   both lowercase addresses; written
 *                   by "mssctl access block|unblock", read by the policy at RCPT
 *   policy_contacts(patient, contact, state 'open'|'closed', first_seen, last_seen)
 *                   written at delivery (contacts.c), read at RCPT */
#ifndef MSS_DIRECTORY_SCHEMA_ENTRIES_H
#define MSS_DIRECTORY_SCHEMA_ENTRIES_H

/* The tables are migrated as directory_entries_schema (schema.h). */
#include "directory/schema.h"

#endif

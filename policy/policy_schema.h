/* policy_schema.h: the policy's own tables (component "policy"), for the unit tests
 * of parts that need them; policy_schema_migrate (policy.h) applies every part's.
 *
 *   policy_contacts(patient, contact, state 'open'|'closed', first_seen, last_seen)
 *                   both lowercase addresses; written at delivery (contacts.c), read
 *                   at RCPT */
#ifndef MSS_POLICY_SCHEMA_H
#define MSS_POLICY_SCHEMA_H

#include "lib/sql.h"

extern const struct sql_schema policy_schema;

#endif

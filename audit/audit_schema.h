/* audit_schema.h: the audit log's tables (component "audit": audit_log,
 * audit_checkpoint, audit_head; see audit.h), for policy/'s list of every part's
 * schema. Migrating also writes the log's first record when the log is new. */
#ifndef MSS_AUDIT_SCHEMA_H
#define MSS_AUDIT_SCHEMA_H

#include "lib/sql.h"

extern const struct sql_schema audit_schema;

#endif

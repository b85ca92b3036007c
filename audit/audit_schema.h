/* audit_schema.h: the audit log's tables (component "audit": audit_log,
 * audit_checkpoint, audit_head; see audit.h), for policy/'s list of every part's
 * schema. */
#ifndef MSS_AUDIT_SCHEMA_H
#define MSS_AUDIT_SCHEMA_H

#include "lib/sql.h"
#include "store/store.h"

extern const struct sql_schema audit_schema;

/* After the migrations: writes the log's first record when the log is new, so that an
 * emptied log is told apart from a new one. Idempotent. Returns 0 or -1 with err. */
int audit_start_log(struct store *st, char *err, size_t errlen);

#endif

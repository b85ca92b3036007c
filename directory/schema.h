/* schema.h: the directory's tables, as two migration components: "directory"
 * (accounts, account_certs: schema.c) and "directory_entries" (the national directory,
 * trust list, patients' blocks and contacts: directory_schema.c). For policy/'s list
 * of every part's schema; the daemons never see it. */
#ifndef MSS_DIRECTORY_SCHEMA_H
#define MSS_DIRECTORY_SCHEMA_H

#include "lib/sql.h"

extern const struct sql_schema directory_schema;
extern const struct sql_schema directory_entries_schema;

#endif

/* schema.h: the directory's tables (accounts, approved professionals, trust list). */
#ifndef MSS_DIRECTORY_SCHEMA_H
#define MSS_DIRECTORY_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

/* Applies the directory's migrations. Returns 0 or -1 with err. */
int directory_schema_migrate(sqlite3 *db, char *err, size_t errlen);

#endif

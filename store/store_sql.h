/* store_sql.h: the store's connection, for the parts that keep their own tables in the
 * same database and transactions (directory/, audit/, vault/, policy/). Never
 * included by the daemons or mssctl: they call those parts' typed functions. */
#ifndef MSS_STORE_SQL_H
#define MSS_STORE_SQL_H

#include "lib/sql.h"
#include "store/store.h"

/* The process's connection (owned by the store, valid until store_close). */
struct sql *store_sql(struct store *st);

/* The store's own tables (component "store"), for the schema list in policy/. */
extern const struct sql_schema store_schema;

#endif

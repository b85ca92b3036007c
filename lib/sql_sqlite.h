/* sql_sqlite.h: the SQLite handle under a connection, for code not yet converted to
 * sql.h (store_db() during the conversion). Goes away with store_db(). */
#ifndef MSS_SQL_SQLITE_H
#define MSS_SQL_SQLITE_H

#include <sqlite3.h>

#include "lib/sql.h"

/* The sqlite3 handle of a SQLite connection, NULL for another engine. */
sqlite3 *sql_sqlite_handle(struct sql *db);

#endif

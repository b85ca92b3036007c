/* test_db_util.h: a database file with some parts' schemas, for unit tests of parts
 * that take the raw SQLite handle until their conversion to lib/sql. */
#ifndef MSS_TEST_DB_UTIL_H
#define MSS_TEST_DB_UTIL_H

#include <sqlite3.h>
#include <stdio.h>

#include "lib/sql.h"
#include "lib/sql_sqlite.h"

/* Opens (creating) path and applies each schema in order. Returns the connection
 * (close it with sql_close) with *raw its SQLite handle, or NULL (why on stderr). */
static inline struct sql *test_db_create(const char *path, const struct sql_schema *const *schemas, size_t n,
                                         sqlite3 **raw)
{
	char err[256];
	struct sql *conn = sql_open(path, SQL_OPEN_CREATE, err, sizeof err);
	for (size_t i = 0; conn != NULL && i < n; i++) {
		if (sql_migrate(conn, schemas[i], NULL, err, sizeof err) < 0) {
			sql_close(conn);
			conn = NULL;
		}
	}
	if (conn == NULL) {
		fprintf(stderr, "test_db_create: %s\n", err);
		return NULL;
	}
	*raw = sql_sqlite_handle(conn);
	return conn;
}

#endif

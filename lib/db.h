/* db.h: SQLite helpers: one connection per process, WAL, numbered migrations, and
 * write transactions that wait and retry rather than surface "database is locked".
 *
 * Only store/, directory/, audit/, vault/ and policy/ use these; daemons never see sqlite3 handles. */
#ifndef MSS_DB_H
#define MSS_DB_H

#include <sqlite3.h>
#include <stddef.h>

/* Opens path in WAL mode (synchronous=FULL so a commit survives power loss,
 * foreign_keys on, busy timeout). create: allow creating the file. Returns the
 * handle or NULL with err. Open after fork, never share across processes. */
sqlite3 *db_open(const char *path, int create, char *err, size_t errlen);
void db_close(sqlite3 *db);

struct db_migration {
	int version;     /* 1, 2, 3, ... in order */
	const char *sql; /* one or more statements */
};

/* Applies, in one transaction each, the migrations of component whose version is above
 * the recorded one (table schema_version(component, version)). Returns 0 or -1 + err. */
int db_migrate(sqlite3 *db, const char *component, const struct db_migration *m, size_t n, char *err,
               size_t errlen);

/* BEGIN IMMEDIATE, retried with backoff while the database is busy (up to ~60 s).
 * Returns 0 or -1 with err. */
int db_begin_write(sqlite3 *db, char *err, size_t errlen);
/* BEGIN (deferred), for consistent reads. */
int db_begin_read(sqlite3 *db, char *err, size_t errlen);
/* COMMIT, retried while busy. Returns 0 or -1 (the transaction is then rolled back). */
int db_commit(sqlite3 *db, char *err, size_t errlen);
void db_rollback(sqlite3 *db);
/* Executes SQL without results. Returns 0 or -1 with err. */
int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* Prepares a statement (sqlite3_prepare_v3, persistent). Returns NULL with err. */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* sqlite3_step, retried while SQLITE_BUSY/LOCKED (outside explicit transactions). */
int db_step(sqlite3_stmt *st);
/* Binds text, or NULL when s is NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Copies column text into out (empty when NULL). Returns 0 or -1 if cut. */
int db_column_copy(sqlite3_stmt *st, int col, char *out, size_t outlen);
/* Fills err with "what: sqlite message". */
void db_error(sqlite3 *db, const char *what, char *err, size_t errlen);

#endif

/* sql.h: the one way MSS code talks to its database, whatever the engine.
 *
 * A small query helper in the manner of Dovecot's lib-sql: a connection object, a
 * bind list in and rows out, one retrying step, and every error checked and reported
 * with the statement's purpose ("what"). The engine is a driver behind this header:
 * sql_sqlite.c (SQLite, the embedded default) and sql_pg.c (PostgreSQL via libpq, for
 * several hosts on one cluster). Only the data parts (store/, directory/, audit/,
 * vault/, policy/) include it; daemons and mssctl never see a connection
 * (scripts/check-style enforces it).
 *
 * SQL text is written once for every engine, in the common subset of SQLite 3.40 and
 * PostgreSQL 15:
 * - placeholders are ?1, ?2, ... (numbered, each may repeat); the PostgreSQL driver
 *   rewrites them to $1, $2 (sql_placeholders_dollar below);
 * - INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE SET c = excluded.c, never
 *   INSERT OR IGNORE / OR REPLACE;
 * - generated ids come back with RETURNING id (sql_one / a query), never from a
 *   last-insert-rowid call; no AUTOINCREMENT semantics relied on;
 * - BLOB columns are bound and read as bytes (SQL_BLOB / sql_blob), or in part
 *   (sql_blob_part), TEXT as UTF-8;
 * - DDL that differs (types, identity columns) goes in per-engine migration texts.
 *
 * Conventions: functions that can fail return -1 and fill err with
 * "what: engine message"; nothing here logs. A connection belongs to one process
 * (open it after fork) and one thread. */
#ifndef MSS_SQL_H
#define MSS_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sql;      /* a connection, with its cache of prepared statements */
struct sql_stmt; /* one query in progress: a cursor over its rows */

enum sql_engine { SQL_SQLITE = 1, SQL_POSTGRESQL = 2 };

/* ---- values bound to placeholders ------------------------------------------------ */

enum sql_type { SQL_TNULL = 0, SQL_TINT, SQL_TTEXT, SQL_TBLOB };

struct sql_value {
	enum sql_type type;
	int64_t i;
	const char *s; /* text: NUL-terminated UTF-8; NULL binds SQL NULL */
	const void *p; /* blob: len bytes, NUL bytes allowed; p NULL with len 0 = empty */
	size_t len;
};

/* Constructors for a bind list. The whole-statement calls (sql_exec, sql_one,
 * sql_foreach) read the values until they return (so a sql_foreach row callback must
 * not change them); sql_query copies them. */
#define SQL_INT(x) ((struct sql_value){.type = SQL_TINT, .i = (int64_t)(x)})
#define SQL_TEXT(x) ((struct sql_value){.type = SQL_TTEXT, .s = (x)})
#define SQL_BLOB(ptr, n) ((struct sql_value){.type = SQL_TBLOB, .p = (ptr), .len = (n)})
#define SQL_NULL ((struct sql_value){.type = SQL_TNULL})
/* SQL_ARGS(a, b, ...) expands to the (array, count) pair every call takes;
 * SQL_NOARGS for a statement without placeholders. */
#define SQL_ARGS(...)                                                                                        \
	(const struct sql_value[]){__VA_ARGS__},                                                             \
	    sizeof((const struct sql_value[]){__VA_ARGS__}) / sizeof(struct sql_value)
#define SQL_NOARGS NULL, 0

/* ---- connections ----------------------------------------------------------------- */

#define SQL_OPEN_CREATE 0x01u /* SQLite: create the file when missing */

/* Opens target: "postgresql://..." or "postgres://..." (PostgreSQL driver), else a
 * SQLite file path (optionally "sqlite:PATH"). SQLite runs in WAL mode with
 * synchronous=FULL (a commit survives power loss), foreign keys on, secure_delete,
 * and a jittered busy handler. PostgreSQL: see sql_pg.c (the database must use the
 * SQL_ASCII encoding and the C collation, as doc/operations.md says: MSS keeps bytes
 * as given and sorts them bytewise, as SQLite does). Returns the connection, or NULL
 * with err; err never holds a password from target. */
struct sql *sql_open(const char *target, unsigned flags, char *err, size_t errlen);
/* sql_open with a bound on every call: a PostgreSQL statement, commit or lock wait
 * that has not answered after timeout_ms fails with SQL_ERR_CONNECTION and the
 * connection is made again at its next use outside a transaction; the server is told
 * the same bound for lock waits and for a transaction left idle (so a host that
 * vanished mid-transaction releases its locks). 0: no bound (mssctl: an import may run
 * long). SQLite keeps its own waits (SQL_WAIT_MS). */
struct sql *sql_open_timeout(const char *target, unsigned flags, unsigned timeout_ms, char *err,
                             size_t errlen);
/* Finalizes the cached statements and closes. NULL is fine. Never inside a
 * transaction that should commit (it is rolled back). */
void sql_close(struct sql *db);
enum sql_engine sql_engine(const struct sql *db);

/* ---- statements ------------------------------------------------------------------ */

/* Runs one statement to completion (INSERT, UPDATE, DELETE, DDL without results).
 * Returns the number of rows it changed (>= 0), or -1 with err. A statement that
 * yields rows is an error here (use sql_one or sql_query). */
int sql_exec(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
             char *err, size_t errlen);

/* Runs one or more statements without parameters or results (DDL, fixtures in
 * tests), separated by ';'. Returns 0 or -1 with err. Every other call here takes
 * exactly one statement, and refuses text after it. */
int sql_script(struct sql *db, const char *what, const char *sql, char *err, size_t errlen);

/* Runs a query expected to give at most one row and reads its first column as an
 * integer into *out (NULL reads as 0): SELECT count(*), SELECT id ..., and INSERT ...
 * RETURNING id. Returns 1 with *out, 0 when there was no row (*out untouched), -1. */
int sql_one(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
            int64_t *out, char *err, size_t errlen);

/* Starts a query: prepares (or takes from the cache) and binds. Every bind is
 * checked: a wrong count or a failing bind is an error naming what. Returns the
 * cursor, NULL with err. The caller then calls sql_next until it returns 0 or -1, or
 * stops early, and always ends with sql_done. Another query may run while this one is
 * open (its statement is then prepared apart). */
struct sql_stmt *sql_query(struct sql *db, const char *what, const char *sql, const struct sql_value *args,
                           size_t nargs, char *err, size_t errlen);
/* sql_query for a large value read with sql_blob: PostgreSQL sends the results as
 * their octets (its binary format) instead of hex text twice their size (a 450 kB IMAP
 * view snapshot, issue 15); SQLite has one form. Numbers and texts read as usual. */
struct sql_stmt *sql_query_binary(struct sql *db, const char *what, const char *sql,
                                  const struct sql_value *args, size_t nargs, char *err, size_t errlen);
/* Where a BLOB (bytea) value is, for sql_blob_part: the column of table's row whose
 * key column holds id. In SQLite the key must be the table's INTEGER PRIMARY KEY (the
 * rowid). */
struct sql_blob_ref {
	const char *table, *column, *key; /* names from the caller's code, never from input */
	int64_t id;
};
struct buf;
/* Appends to out up to len octets of that value from octet off on (fewer at its end),
 * without reading the rest: SQLite's incremental blob I/O reads only the pages before
 * and under them, not the whole chain of overflow pages into a fresh buffer of the
 * value's size; PostgreSQL sends only them (substring). Call it inside a transaction
 * when several parts must be of one value. Returns 0, -1 (no such row included). */
int sql_blob_part(struct sql *db, const char *what, const struct sql_blob_ref *ref, uint64_t off, size_t len,
                  struct buf *out, char *err, size_t errlen);
/* Steps: 1 a row is ready, 0 no more rows, -1 error (err filled). Outside a
 * transaction a busy database is waited for (retries with backoff, ~60 s at most);
 * inside one it is reported (retrying there could deadlock). */
int sql_next(struct sql_stmt *q, char *err, size_t errlen);
/* Resets the statement and gives it back to the cache. NULL is fine. */
void sql_done(struct sql_stmt *q);

/* Columns of the current row, counted from 0. Pointers stay valid until the next
 * sql_next or sql_done. A NULL reads as 0, as the text NULL, as a blob of 0 bytes. */
int64_t sql_int(struct sql_stmt *q, int col);
bool sql_is_null(struct sql_stmt *q, int col);
const char *sql_text(struct sql_stmt *q, int col);
const void *sql_blob(struct sql_stmt *q, int col, size_t *len);
/* Copies column text into out ("" for NULL). Returns 0, or -1 when it did not fit
 * (out then holds a cut copy: callers treat it as an error). */
int sql_text_copy(struct sql_stmt *q, int col, char *out, size_t outlen) __attribute__((warn_unused_result));

/* Runs a query and calls row(arg, q) for each row; row returns 0 to go on, non-zero
 * to stop (that value is returned). Returns 0 when all rows were read, -1 on error. */
int sql_foreach(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
                int (*row)(void *arg, struct sql_stmt *q), void *arg, char *err, size_t errlen);

/* ---- what went wrong ------------------------------------------------------------- */

enum sql_error {
	SQL_ERR_NONE = 0,
	SQL_ERR_BUSY,       /* locked / serialization failure: the transaction may be retried */
	SQL_ERR_CONSTRAINT, /* a UNIQUE, NOT NULL, CHECK or foreign key refused the change */
	SQL_ERR_OTHER,
	/* the database could not be reached, or the connection was lost or timed out: a
	 * temporary failure. A COMMIT that failed this way may have taken effect, so a
	 * caller never removes what the transaction referenced (blobs) after it. */
	SQL_ERR_CONNECTION,
};
/* The kind of the last error on db (valid right after a call returned -1). Note for
 * PostgreSQL: an error aborts the open transaction, so code that expects a
 * constraint to refuse a change inside a transaction checks first instead. */
enum sql_error sql_last_error(const struct sql *db);
/* Statements parsed anew on db so far (texts the statement cache did not hold): the
 * cache's effect, for tests and benchmarks. */
unsigned long sql_prepare_count(const struct sql *db);
/* Calls on db that failed with SQL_ERR_CONNECTION or SQL_ERR_OTHER so far (not BUSY or
 * CONSTRAINT, which a healthy connection gives): a process that keeps db for its next
 * client compares it to decide whether to open the database again instead. */
unsigned long sql_fault_count(const struct sql *db);

/* ---- transactions ---------------------------------------------------------------- */

/* Starts a write transaction, waiting while another writer holds the database
 * (SQLite: BEGIN IMMEDIATE retried with backoff up to ~60 s, so "database is locked"
 * never reaches a client). Returns 0 or -1 with err. */
int sql_begin_write(struct sql *db, char *err, size_t errlen);
/* Starts a read transaction: one consistent snapshot for several queries. */
int sql_begin_read(struct sql *db, char *err, size_t errlen);
/* Commits, retried while busy. Returns 0, or -1 with err (then rolled back). */
int sql_commit(struct sql *db, char *err, size_t errlen);
/* Rolls back the open transaction, if any. */
void sql_rollback(struct sql *db);
/* True inside a transaction begun by sql_begin_*. */
bool sql_in_transaction(const struct sql *db);
/* Holds (on) the open transaction to end by sql_commit or sql_rollback only (a batch of
 * the store, store_batch_begin). SQLite rolls a transaction back itself on a full disk
 * or an I/O error: a statement run after that would run, and commit, on its own (an
 * audit record of work rolled back, a row without the rows it goes with). While held,
 * a query, a script, a BEGIN or a SAVEPOINT run after the transaction ended is refused
 * ("the transaction ended early") until sql_commit, sql_rollback or sql_hold(db, false). */
void sql_hold(struct sql *db, bool on);
/* Nested work inside the open transaction: SAVEPOINT name / RELEASE name (keeping the
 * work) / ROLLBACK TO name then RELEASE (undoing it). name: a plain identifier. */
int sql_savepoint(struct sql *db, const char *name, char *err, size_t errlen);
int sql_release(struct sql *db, const char *name, bool keep, char *err, size_t errlen);
/* A number that changes whenever a transaction of db begins or ends, or rolls back to
 * a savepoint, and that no other connection of the process ever has: what a caller read
 * or wrote inside a write transaction is still there while it stays the same and
 * sql_in_transaction holds (a cache of it needs no invalidation of its own). */
uint64_t sql_txn_generation(const struct sql *db);
/* Outside a transaction: returns once every commit this connection can read is durable,
 * another process's too (one that wrote its commit and died before its own wait,
 * sql_sqlite_sync.h: an fdatasync of the WAL begun after this call; PostgreSQL's
 * commits are durable when they return: nothing to do). Returns 0 or -1 with err, also
 * when a sync begun after since (sql_sync_mark, taken before the other process could
 * commit what the caller looks for) failed: that commit may be lost, a later sync's
 * success notwithstanding. */
int sql_durable(struct sql *db, uint64_t since, char *err, size_t errlen);
uint64_t sql_sync_mark(struct sql *db);

/* Inside a write transaction: serializes the rest of it with every other transaction
 * that takes the same named lock, on any host (the audit chain's tail, a counter read
 * then written). SQLite serializes all writers already (BEGIN IMMEDIATE): a no-op
 * there; PostgreSQL: a transaction-scoped advisory lock (write transactions there are
 * serialized too, see sql_pg.c; the named locks keep each invariant's own guard).
 * Returns 0 or -1 with err. */
int sql_lock(struct sql *db, const char *name, char *err, size_t errlen);

/* Runs fn(arg, err, errlen) inside a write transaction and commits. When the
 * transaction fails with SQL_ERR_BUSY (PostgreSQL: serialization failure, deadlock)
 * it is rolled back and fn runs again from the start (a few times), so fn must only
 * touch the database and its own arg. fn returns 0 to commit, anything else to roll
 * back (that value is returned). Returns 0, fn's value, or -1 with err. */
int sql_transaction(struct sql *db, int (*fn)(void *arg, char *err, size_t errlen), void *arg, char *err,
                    size_t errlen);

/* ---- notifications across hosts --------------------------------------------------- */

/* Wakes every connection listening on channel, on any host, with payload (letters,
 * digits and " ,.:_-", under 1,000 bytes): outside a transaction at once, without
 * waiting for a disk flush (a notification is a hint to look again, never data);
 * inside one when it commits. SQLite: one host, whose sessions the caller wakes
 * itself: nothing to do, returns 0. Returns 0 or -1 with err. */
int sql_notify(struct sql *db, const char *channel, const char *payload, char *err, size_t errlen);
/* Starts listening on channel (a plain identifier). Returns 0, or -1 with err
 * (SQLite has no notifications). */
int sql_listen(struct sql *db, const char *channel, char *err, size_t errlen);
/* The descriptor to poll for notifications (readable: call sql_notification), -1 when
 * the engine has none or the connection is lost. */
int sql_notify_fd(struct sql *db);
/* Reads what arrived and takes the next notification: 1 with its payload copied into
 * payload (cut to len), 0 when none is waiting, -1 when the connection was lost (open
 * a new one and listen again: notifications sent meanwhile are gone). */
int sql_notification(struct sql *db, char *payload, size_t len);
/* The same, with the channel it came on copied into channel (cut to chlen): for one
 * connection that listens on several channels. */
int sql_notification_on(struct sql *db, char *channel, size_t chlen, char *payload, size_t len);

/* ---- backup ------------------------------------------------------------------------ */

/* Writes a consistent copy of the whole database to the new file path, while other
 * connections go on reading and writing: SQLite's online backup API, in one step (one
 * read snapshot), then the copy is synced. Never inside a transaction of db. Returns 0;
 * 1 when this engine is not backed up this way (PostgreSQL: pg_dump, see
 * doc/operations.md; err says so); -1 with err. */
int sql_backup(struct sql *db, const char *path, char *err, size_t errlen);

/* ---- schema migrations ----------------------------------------------------------- */

/* One numbered step of one part's schema. sql is the text for every engine; when the
 * engines need different DDL, sql is NULL and sqlite / postgresql hold each one (an
 * empty string: nothing to do on that engine at this step). */
struct sql_migration {
	int version; /* 1, 2, 3 ... in order, no gaps */
	const char *sql;
	const char *sqlite;
	const char *postgresql;
};

/* One part's schema: its component name in schema_version ("store", "audit", ...) and
 * its steps. */
struct sql_schema {
	const char *component;
	const struct sql_migration *steps;
	size_t nsteps;
};

/* Applies the steps above the version recorded in schema_version(component,
 * version), each in its own write transaction (concurrent migrators never apply one
 * twice). *applied (may be NULL) gets the number of steps run.
 * Returns 0 or -1 with err naming the component and version. */
int sql_migrate(struct sql *db, const struct sql_schema *s, int *applied, char *err, size_t errlen);
/* Compares the recorded version with the latest step. Returns 0 when equal, 1 when
 * the database is older (mssctl migrate brings it up), 2 when it is newer (written by
 * a newer MSS), -1 on error; *have gets the recorded version (0: none). */
int sql_schema_check(struct sql *db, const struct sql_schema *s, int *have, char *err, size_t errlen);
/* The latest version s knows. */
int sql_schema_latest(const struct sql_schema *s);
/* Sets component's recorded version (tests, repairs). Returns 0 or -1. */
int sql_schema_set(struct sql *db, const char *component, int version, char *err, size_t errlen);

/* ---- for drivers ----------------------------------------------------------------- */

/* Rewrites ?N placeholders to $N (PostgreSQL), leaving quoted strings, quoted
 * identifiers and comments alone; a bare ? becomes the next number; a trailing ';' is
 * dropped. Returns 0, or -1 when out (outlen bytes) is too small or a second statement
 * follows a ';'. */
int sql_placeholders_dollar(const char *in, char *out, size_t outlen);

#endif

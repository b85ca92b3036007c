/* sql_int.h: what a database driver provides to lib/sql.c (sql.h's engine-neutral
 * half). One driver per engine, one file each: sql_sqlite.c and sql_pg.c.
 * Never included outside lib/sql*.c and their unit tests. */
#ifndef MSS_SQL_INT_H
#define MSS_SQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/sql.h"

/* How long an operation waits for a busy database before it fails (and the client
 * gets a temporary error): long enough that contention never reaches a client. */
#define SQL_WAIT_MS 60000

#define SQL_QUERY_KEEP 1u
#define SQL_QUERY_BINARY 2u

struct sql_driver {
	enum sql_engine engine;
	const char *name;
	/* true when target names this engine ("postgresql://...") */
	bool (*accepts)(const char *target);
	/* timeout_ms: sql_open_timeout's bound (0: none) */
	struct sql *(*open)(const char *target, unsigned flags, unsigned timeout_ms, char *err,
	                    size_t errlen);
	void (*close)(struct sql *db);
	/* prepares (or takes from the cache) and binds every value, checked; opts:
	 * SQL_QUERY_KEEP the values are copied (a cursor may outlive the caller's buffers),
	 * else they are only referenced (whole-statement calls, finished before they
	 * return); SQL_QUERY_BINARY results in the engine's binary form (sql_query_binary) */
	struct sql_stmt *(*query)(struct sql *db, const char *what, const char *sql,
	                          const struct sql_value *args, size_t nargs, unsigned opts, char *err,
	                          size_t errlen);
	int (*next)(struct sql_stmt *q, char *err, size_t errlen);
	void (*done)(struct sql_stmt *q);
	/* rows changed by q, once sql_next returned 0 */
	int (*changes)(struct sql_stmt *q);
	int64_t (*col_int)(struct sql_stmt *q, int col);
	bool (*col_null)(struct sql_stmt *q, int col);
	const char *(*col_text)(struct sql_stmt *q, int col);
	const void *(*col_blob)(struct sql_stmt *q, int col, size_t *len);
	/* one or more statements without parameters or results (DDL, SAVEPOINT);
	 * retry_busy: wait while the database is busy (transaction control) */
	int (*script)(struct sql *db, const char *what, const char *sql, bool retry_busy, char *err,
	              size_t errlen);
	/* one statement of transaction control without parameters or results (SAVEPOINT,
	 * RELEASE, ROLLBACK TO) from the statement cache, waiting while busy as begin does
	 * (NULL: script, which parses its text at every call) */
	int (*control)(struct sql *db, const char *what, const char *sql, char *err, size_t errlen);
	/* BEGIN (read or write), waiting while busy; COMMIT; ROLLBACK */
	int (*begin)(struct sql *db, bool write, char *err, size_t errlen);
	int (*commit)(struct sql *db, char *err, size_t errlen);
	void (*rollback)(struct sql *db);
	bool (*in_transaction)(const struct sql *db);
	/* sql_lock inside a write transaction (NULL: writers are serialized anyway) */
	int (*lock)(struct sql *db, const char *name, char *err, size_t errlen);
	/* notifications across hosts (NULL: the engine serves one host; sql.c answers) */
	int (*notify)(struct sql *db, const char *channel, const char *payload, char *err, size_t errlen);
	int (*listen)(struct sql *db, const char *channel, char *err, size_t errlen);
	int (*notify_fd)(struct sql *db);
	int (*notification)(struct sql *db, char *channel, size_t chlen, char *payload, size_t len);
	/* sql_backup (NULL: the engine is backed up with its own tools) */
	int (*backup)(struct sql *db, const char *path, char *err, size_t errlen);
	/* sql_blob_part (NULL: a query of the part, substring) */
	int (*blob_part)(struct sql *db, const char *what, const struct sql_blob_ref *ref, uint64_t off,
	                 size_t len, struct buf *out, char *err, size_t errlen);
	/* drops the cached prepared statements that have no cursor open (after a schema
	 * change made here: they are prepared again at their next use) */
	void (*forget)(struct sql *db);
	/* sql_durable and sql_sync_mark (NULL: a commit is durable once it returned) */
	int (*durable)(struct sql *db, uint64_t since, char *err, size_t errlen);
	uint64_t (*sync_mark)(struct sql *db);
};

/* Every driver's connection and cursor start with these. */
struct sql {
	const struct sql_driver *drv;
	enum sql_error last_error;
	unsigned long prepares; /* texts the cache did not hold, parsed anew (sql_prepare_count) */
	unsigned long faults;   /* calls failed for the connection or the engine (sql_fault_count) */
	uint64_t txn_gen;       /* sql_txn_generation */
	bool held;              /* sql_hold */
};

struct sql_stmt {
	struct sql *db;
	const char *what; /* the caller's purpose, for error messages */
};

extern const struct sql_driver sql_sqlite_driver;
extern const struct sql_driver sql_pg_driver;

/* Sleeps about 1, 2, 4 ... 64 ms with jitter for retry number attempt, so colliding
 * writers spread out. */
void sql_backoff(unsigned attempt);
/* Milliseconds since *start (CLOCK_MONOTONIC). */
long sql_elapsed_ms(const struct timespec *start);
/* Hash of a statement's text for the drivers' statement caches: FNV-1a over the
 * length and the first and last 32 bytes (statements differ there; a collision only
 * costs a comparison). */
uint32_t sql_text_hash(const char *s);
/* sql_placeholders_dollar that also gives the highest placeholder number (*nparams)
 * and refuses a second statement after a ';' (1: more than one statement). Returns 0,
 * 1, or -1 when out is too small. */
int sql_placeholders_rewrite(const char *in, char *out, size_t outlen, unsigned *nparams);
/* A plain identifier (letters, digits, '_', at most 32 bytes): savepoint and channel
 * names, which are written into SQL text. */
bool sql_plain_identifier(const char *s);

#endif

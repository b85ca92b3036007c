/* auth_store.h: every SQL statement of auth/, in one file (auth_store.c), written for
 * lib/sql so that it runs on SQLite and PostgreSQL alike.
 *
 * Table auth_failures (component "auth", auth_schema below): one row per throttled
 * key, scope "client" (a client address, IPv6 by /64) or "account" (an address as the
 * client named it, lowercase, whether or not it exists: locking only real accounts
 * would tell a guesser which exist). */
#ifndef MSS_AUTH_STORE_H
#define MSS_AUTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "directory/account.h"
#include "lib/sql.h"
#include "store/store.h"

/* auth/'s tables, for policy/'s list of every part's schema. */
extern const struct sql_schema auth_schema;

struct auth_counter {
	unsigned failures;   /* within the window */
	time_t locked_until; /* 0 when not locked */
};

/* Reads the counter of (scope, key) as seen at now with window seconds: a row whose
 * window has passed counts 0 failures. Returns 0 (zeros when no row) or -1. */
int auth_store_counter(struct sql *db, const char *scope, const char *key, time_t now, unsigned window,
                       struct auth_counter *out);
/* Adds one failure to each (scope, key) of the n given, in one write transaction; a
 * counter reaching its max is locked until now + lockout. Rows idle for longer than
 * the window and not locked are deleted on the way. Returns 0 or -1 with err. */
struct auth_failure_key {
	const char *scope;
	const char *key;
	unsigned max;
};
int auth_store_fail(struct sql *db, const struct auth_failure_key *k, size_t n, time_t now, unsigned window,
                    unsigned lockout, char *err, size_t errlen);
/* Forgets the counter of (scope, key). Returns 0 or -1. */
int auth_store_clear(struct sql *db, const char *scope, const char *key);
/* The one account whose RPPS is rpps. Returns 1, 0 (none, or several), -1 error. */
int auth_store_account_by_rpps(struct store *st, const char *rpps, struct account *out);

#endif

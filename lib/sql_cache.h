/* sql_cache.h: the prepared-statement cache both database drivers keep per
 * connection (lib/sql_sqlite.c, lib/sql_pg.c), keyed by the statement's SQL text.
 *
 * Bounded and least recently used first out: a statement built at run time (SEARCH,
 * an IN list of some length) is used once and then pushed out by the hot ones (a
 * delivery's, a SELECT's), instead of filling the cache for good. An entry with a
 * cursor open on it (busy) is never chosen to go. The cache only indexes: the driver
 * allocates each entry inside its own record (entry first), prepares and finalizes
 * the statement, and frees the record after sql_cache_remove. Never included outside
 * lib/sql*.c and their unit tests. */
#ifndef MSS_SQL_CACHE_H
#define MSS_SQL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Statements kept prepared per connection, each engine. A delivery runs 17 distinct
 * statements, an IMAP session some tens (SELECT, FETCH, STORE, SEARCH, the vault's
 * views); one prepared statement holds a few KB (SQLite: its statement status MEMUSED;
 * PostgreSQL: its plan, in the server's backend), so 128 keep every hot path prepared
 * for well under 1 MB per connection. Past it, the least recently used goes. */
#define SQL_CACHE_MAX 128
#define SQL_CACHE_BUCKETS 256 /* a power of two, twice SQL_CACHE_MAX */

struct sql_cache_entry {
	char *sql; /* owned by the cache from sql_cache_add to sql_cache_remove */
	uint32_t hash;
	bool busy;                             /* set and cleared by the driver */
	struct sql_cache_entry *chain;         /* next in its bucket */
	struct sql_cache_entry *newer, *older; /* recency list, newest first */
};

struct sql_cache {
	size_t n, max; /* entries held, and the bound (set once by the driver) */
	struct sql_cache_entry *bucket[SQL_CACHE_BUCKETS];
	struct sql_cache_entry *newest, *oldest;
};

/* The entry for sql (hash: sql_text_hash(sql)), made the most recently used; NULL
 * when not cached. */
struct sql_cache_entry *sql_cache_find(struct sql_cache *c, const char *sql, uint32_t hash);
/* True when one more entry fits without an eviction. */
bool sql_cache_has_room(const struct sql_cache *c);
/* The least recently used entry that is not busy, NULL when every entry is: the one
 * to remove (sql_cache_remove, then the driver frees it) to make room. */
struct sql_cache_entry *sql_cache_victim(const struct sql_cache *c);
/* Adds e (the driver's zeroed record) for sql as the most recently used; the text
 * is copied. The caller checked for room. */
void sql_cache_add(struct sql_cache *c, struct sql_cache_entry *e, const char *sql, uint32_t hash);
/* Takes e out of the cache and frees its text; the record stays the driver's. */
void sql_cache_remove(struct sql_cache *c, struct sql_cache_entry *e);

#endif

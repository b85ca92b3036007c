/* sql_cache.c: the drivers' prepared-statement cache (sql_cache.h): a chained hash
 * table by SQL text and a doubly linked recency list, so that a hit, an insertion and
 * an eviction each cost O(1) plus one bucket's chain. */
#include "lib/sql_cache.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

static struct sql_cache_entry **bucket_of(struct sql_cache *c, uint32_t hash)
{
	return &c->bucket[hash & (SQL_CACHE_BUCKETS - 1)];
}

static void recency_unlink(struct sql_cache *c, struct sql_cache_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void recency_push(struct sql_cache *c, struct sql_cache_entry *e)
{
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = e;
	c->newest = e;
	if (c->oldest == NULL)
		c->oldest = e;
}

struct sql_cache_entry *sql_cache_find(struct sql_cache *c, const char *sql, uint32_t hash)
{
	struct sql_cache_entry *e = *bucket_of(c, hash);
	while (e != NULL && (e->hash != hash || strcmp(e->sql, sql) != 0))
		e = e->chain;
	if (e != NULL && e != c->newest) {
		recency_unlink(c, e);
		recency_push(c, e);
	}
	return e;
}

bool sql_cache_has_room(const struct sql_cache *c)
{
	return c->n < c->max;
}

struct sql_cache_entry *sql_cache_victim(const struct sql_cache *c)
{
	for (struct sql_cache_entry *e = c->oldest; e != NULL; e = e->newer)
		if (!e->busy)
			return e;
	return NULL;
}

void sql_cache_add(struct sql_cache *c, struct sql_cache_entry *e, const char *sql, uint32_t hash)
{
	struct sql_cache_entry **b = bucket_of(c, hash);
	e->sql = xstrdup(sql);
	e->hash = hash;
	e->chain = *b;
	*b = e;
	recency_push(c, e);
	c->n++;
}

void sql_cache_remove(struct sql_cache *c, struct sql_cache_entry *e)
{
	struct sql_cache_entry **p = bucket_of(c, e->hash);
	while (*p != e)
		p = &(*p)->chain;
	*p = e->chain;
	recency_unlink(c, e);
	c->n--;
	free(e->sql);
	e->sql = NULL;
}

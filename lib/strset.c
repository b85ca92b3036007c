/* strset.c: a set of distinct strings, each stored once (strset.h). */
#include "lib/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

/* FNV-1a: the strings are short (a keyword list), a cheap hash does */
static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot of s, or the free slot where it belongs. */
static char **find(char **slot, size_t cap, const char *s)
{
	size_t i = (size_t)hash(s) & (cap - 1);
	while (slot[i] != NULL && strcmp(slot[i], s) != 0)
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

/* Doubles the table (kept at most half full, so a search ends soon). */
static void grow(struct strset *set)
{
	size_t cap = set->cap ? set->cap * 2 : 16;
	char **slot = xcalloc(cap, sizeof(*slot));
	for (size_t i = 0; i < set->cap; i++)
		if (set->slot[i] != NULL)
			*find(slot, cap, set->slot[i]) = set->slot[i];
	free(set->slot);
	set->slot = slot;
	set->cap = cap;
}

const char *strset_add(struct strset *set, const char *s)
{
	if (set->n + 1 > set->cap / 2)
		grow(set);
	char **p = find(set->slot, set->cap, s);
	if (*p == NULL) {
		*p = xstrdup(s);
		set->n++;
	}
	return *p;
}

void strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	*set = (struct strset){0};
}

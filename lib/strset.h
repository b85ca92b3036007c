/* strset.h: a set of distinct strings, each stored once (interning).
 *
 * Many holders of the same string share one copy: a mailbox view of 100,000 messages
 * has a handful of distinct keyword lists, and a copy per message cost a malloc each
 * at every load (issue 15). The strings live until strset_free: a holder keeps the
 * pointer strset_add returned, never frees or changes it. */
#ifndef MSS_STRSET_H
#define MSS_STRSET_H

#include <stddef.h>

struct strset {
	char **slot; /* open addressing, cap a power of two, NULL when free */
	size_t cap;
	size_t n;
};

/* The set's copy of s (added when absent). The set may be all zeros. */
const char *strset_add(struct strset *set, const char *s);
/* Frees every string; the set is empty again. */
void strset_free(struct strset *set);

#endif

/* imap_seqset.c: sequence sets (see imap_seqset.h). */
#include "imap/imap_seqset.h"

#include <stdlib.h>

#include "lib/buf.h"

static int seq_number(const char **pp, uint32_t *out)
{
	const char *p = *pp;
	if (*p == '*') {
		*out = IMAP_SEQ_STAR;
		*pp = p + 1;
		return 0;
	}
	if (*p < '1' || *p > '9')
		return -1;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX) /* nz-number < 2^32 */
			return -1;
		p++;
	}
	/* 4294967295 stands for '*' inside; clients that write it mean "the top", and no
	 * UID reaches it (the store's UIDNEXT stays below), so it becomes 4294967294. */
	*out = v == UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)v;
	*pp = p;
	return 0;
}

int imap_seqset_parse(const char *s, struct imap_seqset *out)
{
	out->r = NULL;
	out->n = 0;
	size_t cap = 0;
	const char *p = s;
	for (;;) {
		struct imap_seq_range r;
		if (seq_number(&p, &r.lo) < 0)
			goto fail;
		r.hi = r.lo;
		if (*p == ':') {
			p++;
			if (seq_number(&p, &r.hi) < 0)
				goto fail;
		}
		if (r.lo > r.hi) {
			uint32_t t = r.lo;
			r.lo = r.hi;
			r.hi = t;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 4;
			out->r = xrealloc(out->r, cap * sizeof(*out->r));
		}
		out->r[out->n++] = r;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto fail;
		p++;
	}
fail:
	imap_seqset_free(out);
	return -1;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

static uint32_t resolve(uint32_t v, uint32_t star)
{
	return v == IMAP_SEQ_STAR ? star : v;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

bool imap_seqset_has_star(const struct imap_seqset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->r[i].lo == IMAP_SEQ_STAR || set->r[i].hi == IMAP_SEQ_STAR)
			return true;
	return false;
}

uint32_t imap_seqset_max(const struct imap_seqset *set, uint32_t star)
{
	uint32_t m = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		if (lo > m)
			m = lo;
		if (hi > m)
			m = hi;
	}
	return m;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void imap_seqset_normalise(struct imap_seqset *set, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		set->r[i].lo = lo < hi ? lo : hi;
		set->r[i].hi = lo < hi ? hi : lo;
	}
	if (set->n > 1)
		qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	size_t k = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (k > 0 && (uint64_t)set->r[i].lo <= (uint64_t)set->r[k - 1].hi + 1) {
			if (set->r[i].hi > set->r[k - 1].hi)
				set->r[k - 1].hi = set->r[i].hi;
			continue;
		}
		set->r[k++] = set->r[i];
	}
	set->n = k;
}

bool imap_seqset_has(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v < set->r[mid].lo)
			hi = mid;
		else if (v > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

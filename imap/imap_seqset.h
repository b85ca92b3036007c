/* imap_seqset.h: sequence sets (RFC 9051 9: sequence-set, seq-number, seq-range). */
#ifndef MSS_IMAP_SEQSET_H
#define MSS_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sequence sets (RFC 9051 9: sequence-set). '*' is kept as IMAP_SEQ_STAR and resolved
 * by the caller against the mailbox (the highest sequence number or UID). */
#define IMAP_SEQ_STAR UINT32_MAX
struct imap_seq_range {
	uint32_t lo, hi; /* lo <= hi after normalisation; either may be IMAP_SEQ_STAR */
};
struct imap_seqset {
	struct imap_seq_range *r;
	size_t n;
};
/* Parses s ("1:4,7,*,10:*"). Refuses 0, numbers above 4294967295 and empty parts.
 * "$" (RFC 5182 SEARCHRES) is not supported. Returns 0 or -1. */
int imap_seqset_parse(const char *s, struct imap_seqset *out);
void imap_seqset_free(struct imap_seqset *set);
/* true when v is in the set, with '*' standing for star (the current maximum). */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t star);
/* true when the set names '*' anywhere. */
bool imap_seqset_has_star(const struct imap_seqset *set);
/* The largest number named, '*' counted as star. */
uint32_t imap_seqset_max(const struct imap_seqset *set, uint32_t star);
/* Replaces '*' by star, then sorts and merges the ranges, so that membership is a
 * binary search (imap_seqset_has): a set of many ranges against a large mailbox costs
 * O(messages x log ranges), not O(messages x ranges). */
void imap_seqset_normalise(struct imap_seqset *set, uint32_t star);
/* Membership in a normalised set. */
bool imap_seqset_has(const struct imap_seqset *set, uint32_t v);

#endif

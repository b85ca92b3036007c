/* imap_search.h: the grammar of SEARCH (RFC 9051 6.4.4 with the RFC 3501 keys), its
 * RETURN options (RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5267 CONTEXT=SEARCH and
 * PARTIAL), MODSEQ (RFC 7162), and of SORT and THREAD (RFC 5256, RFC 5957 DISPLAY).
 *
 * A pure parser (fuzzed): arguments in, a tree of keys out. Nothing here knows the
 * mailbox: sequence sets keep their '*' and are resolved when evaluated; dates are
 * the unix time of the day's 00:00 UTC. */
#ifndef MSS_IMAP_SEARCH_H
#define MSS_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"

#define IMAP_SEARCH_DEPTH_MAX 128 /* nested keys (NOT NOT ..., OR chains, lists) */

enum imap_skey {
	IMAP_SK_ALL,
	IMAP_SK_AND, /* all kids */
	IMAP_SK_OR,  /* two kids */
	IMAP_SK_NOT, /* one kid */
	IMAP_SK_FLAG,
	IMAP_SK_KEYWORD,
	IMAP_SK_RECENT,
	IMAP_SK_BEFORE, /* INTERNALDATE */
	IMAP_SK_ON,
	IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, /* Date: header, in its own time zone */
	IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE,
	IMAP_SK_LARGER,
	IMAP_SK_SMALLER,
	IMAP_SK_HEADER, /* field (FROM/TO/CC/BCC/SUBJECT too) contains str */
	IMAP_SK_BODY,   /* a text part contains str */
	IMAP_SK_TEXT,   /* the header or a text part contains str */
	IMAP_SK_SEQ,    /* sequence numbers */
	IMAP_SK_UID,
	IMAP_SK_MODSEQ,
	IMAP_SK_SAVED, /* "$" (RFC 5182) */
};

struct imap_snode {
	enum imap_skey key;
	uint32_t flag;     /* IMAP_SK_FLAG: STORE_FLAG_* value (bit of the system flag) */
	uint64_t num;      /* LARGER, SMALLER, MODSEQ */
	int64_t date;      /* date keys: unix time of that day, 00:00 UTC */
	const char *str;   /* keyword, needle (points into the command) */
	const char *field; /* HEADER: the field name */
	struct imap_seqset set;
	struct imap_snode **kids;
	size_t nkids;
};

/* RETURN options */
#define IMAP_SRET_MIN 0x01u
#define IMAP_SRET_MAX 0x02u
#define IMAP_SRET_ALL 0x04u
#define IMAP_SRET_COUNT 0x08u
#define IMAP_SRET_SAVE 0x10u
#define IMAP_SRET_PARTIAL 0x20u /* RFC 5267 */
#define IMAP_SRET_UPDATE 0x40u  /* RFC 5267 CONTEXT: keep the client informed */
#define IMAP_SRET_CONTEXT 0x80u

/* System flags, as the store numbers them (store/store.h STORE_FLAG_*). */
#define IMAP_FLAG_SEEN 0x01u
#define IMAP_FLAG_ANSWERED 0x02u
#define IMAP_FLAG_FLAGGED 0x04u
#define IMAP_FLAG_DELETED 0x08u
#define IMAP_FLAG_DRAFT 0x10u

struct imap_search_query {
	struct imap_snode *root;        /* an AND of the keys */
	bool esearch;                   /* RETURN (...) given: answer with ESEARCH */
	unsigned ret;                   /* IMAP_SRET_*; ALL when RETURN () */
	int32_t partial_lo, partial_hi; /* PARTIAL lo:hi (1-based; negative counts from the end) */
	bool has_modseq;                /* a MODSEQ key: CONDSTORE is enabled, results carry MODSEQ */
	bool charset;                   /* a charset was named (always for SORT and THREAD) */
	bool charset_utf8;              /* ... and it was UTF-8 */
};

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM, /* RFC 5957 */
	IMAP_SORT_DISPLAYTO,
};
#define IMAP_SORT_KEYS_MAX 16
struct imap_sort_criteria {
	enum imap_sort_key key[IMAP_SORT_KEYS_MAX];
	bool reverse[IMAP_SORT_KEYS_MAX];
	size_t n;
};

/* Result codes of the parsers: 0 ok; -1 syntax (BAD, err says why); -2 an unknown
 * charset (NO [BADCHARSET]). */

/* SEARCH [RETURN (opts)] [CHARSET cs] keys, from args[0]. UTF-8 and US-ASCII are the
 * charsets. */
int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search_query *q, const char **err);
/* SORT [RETURN (opts)] (criteria) charset keys (RFC 5256, RFC 5267). */
int imap_sort_parse(const struct imap_arg *args, size_t n, struct imap_sort_criteria *sc,
                    struct imap_search_query *q, const char **err);
/* THREAD algorithm charset keys; *refs true for REFERENCES, false for ORDEREDSUBJECT. */
int imap_thread_parse(const struct imap_arg *args, size_t n, bool *refs, struct imap_search_query *q,
                      const char **err);
void imap_search_free(struct imap_search_query *q);

/* true when the tree holds a key of kind k (e.g. whether text must be read). */
bool imap_search_has(const struct imap_snode *n, enum imap_skey k);

#endif

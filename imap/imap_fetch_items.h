/* imap_fetch_items.h: the grammar of FETCH's data items (RFC 9051 6.4.5, 9: fetch-att;
 * RFC 3516 BINARY; RFC 7162 MODSEQ and CHANGEDSINCE; RFC 7162 3.2.6 VANISHED).
 *
 *   fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
 *           "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier ... ")"]
 * A pure parser (fuzzed): items in, a list out; what each item answers is the
 * caller's business. */
#ifndef MSS_IMAP_FETCH_ITEMS_H
#define MSS_IMAP_FETCH_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/imap_section.h"

#define IMAP_FETCH_ITEMS_MAX 64
#define IMAP_FETCH_LABEL_MAX (IMAP_SECTION_FIELDS_MAX * 4 + 64)

enum imap_fetch_kind {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_UID,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_SIZE, /* RFC822.SIZE */
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_BODY,    /* the non-extensible structure */
	IMAP_FETCH_SECTION, /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_BINARY,      /* BINARY[part]<partial>, BINARY.PEEK */
	IMAP_FETCH_BINARY_SIZE, /* BINARY.SIZE[part] */
};

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	bool peek;                        /* does not set \Seen */
	char label[IMAP_FETCH_LABEL_MAX]; /* the item as the answer names it, without <partial> */
	struct imap_section sec;          /* SECTION, BINARY, BINARY_SIZE */
};

struct imap_fetch_request {
	struct imap_fetch_item items[IMAP_FETCH_ITEMS_MAX];
	size_t n;
	bool sets_seen;        /* a non-PEEK body section (RFC 9051 6.4.5) */
	bool reads_content;    /* an item needs the message's octets */
	bool reads_body;       /* ... a body's content, not only headers (a document consulted) */
	bool needs_meta;       /* an item needs the stored metadata (dates, sizes, structures) */
	uint64_t changedsince; /* CHANGEDSINCE n (RFC 7162 3.1.4.1), 0 = none */
	bool vanished;         /* VANISHED (RFC 7162 3.2.6) */
	bool modseq;           /* MODSEQ asked, or implied by CHANGEDSINCE */
};

/* An empty request (n = 0, no flag set): what imap_fetch_parse starts from, and what
 * imap_fetch_request_free may be given before any parse. */
void imap_fetch_request_init(struct imap_fetch_request *r);
/* Parses the items argument and the optional modifiers (NULL when absent). uid: a
 * UID FETCH, which answers UID whatever was asked. Returns 0, or -1 with err for BAD.
 * The request is released with imap_fetch_request_free, also after a failure. */
int imap_fetch_parse(const struct imap_arg *items, const struct imap_arg *modifiers, bool uid,
                     struct imap_fetch_request *r, const char **err);
void imap_fetch_request_free(struct imap_fetch_request *r);

#endif

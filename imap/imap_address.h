/* imap_address.h: address header fields (From, To, Cc, ...: RFC 5322 3.4 with the
 * obsolete forms of section 4.4) as IMAP describes them: the ENVELOPE address lists of
 * RFC 9051 7.5.2, the text SEARCH FROM/TO/CC/BCC matches, and the sort keys of
 * RFC 5256 / RFC 5957.
 *
 * Every address is kept, even a broken one: a missing local part or domain becomes
 * "" (the ENVELOPE still has four fields), "user@domain (Real Name)" takes its name
 * from the comment, "<@route:user@domain>" keeps its route, and a group is a start
 * marker (mailbox = the group's name, domain NULL) and an end marker (all NULL), as
 * RFC 9051 7.5.2 writes them.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_ADDRESS_H
#define MSS_IMAP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define IMAP_ADDRESSES_MAX 10000 /* per header value: the rest is ignored */

struct imap_address {
	char *name;    /* display name (phrase or comment), NULL when none */
	char *route;   /* obs-route "@a,@b", NULL when none */
	char *mailbox; /* local part ("" when missing); group start: the group's name */
	char *domain;  /* domain ("" when missing); NULL for both group markers */
	bool invalid;  /* some part was missing or broken */
};

struct imap_address_list {
	struct imap_address *v;
	size_t n;
};

/* Parses a header value (unfolded or not) into out, appending to what out holds (a
 * field given twice counts as one comma-separated list). Never fails. */
void imap_address_parse(const char *value, size_t len, struct imap_address_list *out);
void imap_address_list_free(struct imap_address_list *l);

/* ENVELOPE form: "((name adl mailbox host) ...)" or "NIL" for an empty list. ascii:
 * for a client that did not enable UTF-8, RFC 6858 3's downgrade: UTF-8 names in
 * encoded words, an address with UTF-8 in its local part or domain as an empty group
 * named after it ("name <addr>" in encoded words); no octet past ASCII is written. */
void imap_address_write_envelope(struct buf *out, const struct imap_address_list *l, bool ascii);
/* The list as RFC 5322 text, normalised ("Name <user@domain>, group: a@b;"), for
 * substring SEARCH (comments and folding gone). */
void imap_address_write_text(struct buf *out, const struct imap_address_list *l);
/* The first real mailbox (group markers skipped), or NULL. */
const struct imap_address *imap_address_first(const struct imap_address_list *l);

#endif

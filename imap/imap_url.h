/* imap_url.h: the IMAP URLs that name a message or a part of one (RFC 5092), as
 * CATENATE (RFC 4469) takes them:
 *
 *   [ "imap://" iserver ] "/" enc-mailbox [ ";UIDVALIDITY=" nz-number ]
 *       "/;UID=" nz-number [ "/;SECTION=" enc-section ] [ "/;PARTIAL=" number [ "." nz-number ] ]
 *       [ [ ";EXPIRE=" date-time ] ";URLAUTH=" access [ ":" mechanism ":" token ] ]
 *
 * and URLAUTH (RFC 4467) takes them with their last line. Parameter names are
 * case-insensitive; %XX escapes are decoded in the mailbox, the section and the
 * access identifier. The server part of an absolute URL is returned for the caller to
 * check. A pure parser (fuzzed): never reads outside its input. */
#ifndef MSS_IMAP_URL_H
#define MSS_IMAP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_URL_MAILBOX_MAX 1024
#define IMAP_URL_SECTION_MAX 1024
#define IMAP_URL_SERVER_MAX 256

struct imap_url {
	char server[IMAP_URL_SERVER_MAX];   /* "[user[;AUTH=..]@]host[:port]"; "" for a relative URL */
	char mailbox[IMAP_URL_MAILBOX_MAX]; /* decoded: the mailbox as on the wire (modified UTF-7) */
	uint32_t uidvalidity;               /* 0: not given */
	uint32_t uid;
	char section[IMAP_URL_SECTION_MAX]; /* decoded; "" for the whole message */
	bool partial;
	uint64_t partial_off, partial_len; /* partial_len 0: to the end */
	/* URLAUTH (RFC 4467): "" when absent */
	char expire[64];                  /* the date-time as given */
	char access[IMAP_URL_SERVER_MAX]; /* "user+joe", "authuser", "anonymous", "submit+joe" */
	char mechanism[32];               /* "" in a rump URL (GENURLAUTH's argument) */
	char token[160];
	size_t rump_len; /* octets of the URL up to the access identifier, included */
};

/* Parses url[0..len). Returns 0 with out filled, -1 when it is not such a URL. */
int imap_url_parse(const char *url, size_t len, struct imap_url *out);

#endif

/* smtp_parse.h: SMTP command syntax as pure functions (no I/O, no session state),
 * so that they are unit-tested from tables and fuzzed.
 *
 * Inputs are NUL-terminated lines without CRLF (the reader already rejected NULs and
 * overlong lines). Nothing here allocates. */
#ifndef MSS_SMTP_PARSE_H
#define MSS_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/dsn.h"
#include "lib/mss_limits.h"
#include "smtpd/smtp_reply.h"

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets. */
#define SMTP_PATH_MAX MSS_ADDRESS_SIZE
#define SMTP_DOMAIN_MAX MSS_DOMAIN_SIZE
#define SMTP_VERB_MAX MSS_SMTP_VERB_SIZE

struct smtp_cmdline {
	char verb[SMTP_VERB_MAX]; /* uppercased */
	const char *args;         /* into the line, after the verb and its spaces; "" if none */
};

/* Splits "VERB args". Returns 0, or -1 when there is no verb of 1..15 letters
 * followed by a space or the end of the line. */
int smtp_parse_verb(const char *line, struct smtp_cmdline *out);

struct smtp_mail_params {
	uint64_t size; /* SIZE= (RFC 1870); 0 when absent */
	bool has_size;
	int body;            /* 0 absent, 7 (7BIT) or 8 (8BITMIME, RFC 6152) */
	bool smtputf8;       /* SMTPUTF8 (RFC 6531 3.4): UTF-8 addresses and header fields */
	bool requiretls;     /* REQUIRETLS (RFC 8689 4.1): every hop over verified TLS */
	struct dsn_mail dsn; /* RET, ENVID (RFC 3461) */
};

/* Parses the argument of MAIL: "FROM:<path> [params]". The address is written
 * lowercased (ASCII letters only: nothing else is normalised) without brackets; "" for
 * the null reverse-path <>. A source route (<@a,@b:user@d>) is accepted and dropped
 * (RFC 5321 4.1.2 says MUST accept). A UTF-8 address is taken only with the SMTPUTF8
 * parameter (RFC 6531 3.3). Returns RPL_OK, or the reply to send (RPL_SYNTAX_MAIL,
 * RPL_BAD_SENDER, RPL_PARAM_UNKNOWN, RPL_BAD_BODY, RPL_SYNTAX for a duplicate or a
 * value on SMTPUTF8/REQUIRETLS, RPL_NEED_SMTPUTF8, RPL_DSN_RET, RPL_DSN_ENVID). */
enum smtp_reply_id smtp_parse_mail(const char *args, char addr[SMTP_PATH_MAX], struct smtp_mail_params *p);
/* Parses the argument of RCPT: "TO:<path> [params]", the parameters being DSN's
 * NOTIFY and ORCPT (RFC 3461, into dsn; zeroed first). A UTF-8 address is returned as
 * it is: the caller refuses it outside an SMTPUTF8 transaction (smtp_parse_is_ascii).
 * Returns RPL_OK, RPL_SYNTAX_RCPT, RPL_BAD_RECIPIENT, RPL_PARAM_UNKNOWN, RPL_DSN_NOTIFY
 * or RPL_DSN_ORCPT. */
enum smtp_reply_id smtp_parse_rcpt(const char *args, char addr[SMTP_PATH_MAX], struct dsn_rcpt *dsn);
/* Parses the argument of BDAT (RFC 3030 2): "chunk-size [LAST]", chunk-size 1*DIGIT
 * (at most 18 digits). Returns 0, or -1: the octets that follow cannot be found, so
 * the caller must close the session. */
int smtp_parse_bdat(const char *args, uint64_t *size, bool *last);
/* Checks the HELO/EHLO argument: one domain or address literal, printable ASCII,
 * at most 255 octets. Copies it to out. Returns 0 or -1. */
int smtp_parse_helo(const char *args, char out[SMTP_DOMAIN_MAX]);
/* Checks an address "local@domain" (dot-string or quoted local part, domain of
 * LDH labels or an address literal; RFC 6531 3.3: UTF-8 in the local part and in
 * U-labels, well-formed and without C0 or C1 controls; the RFC 5321 4.5.3.1 limits
 * counted in octets). */
bool smtp_parse_is_mailbox(const char *s);
/* True when s is all ASCII (needs no SMTPUTF8). */
bool smtp_parse_is_ascii(const char *s);

/* Splits "MECHANISM [initial-response]". The mechanism is uppercased into mech.
 * *resp points into args ("" when absent). Returns 0 or -1. */
int smtp_parse_auth(const char *args, char *mech, size_t mechlen, const char **resp);

#endif

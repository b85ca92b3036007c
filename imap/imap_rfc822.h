/* imap_rfc822.h: the lexical tokens of RFC 5322 header values (comments, atoms,
 * quoted strings, phrases, dot-atoms, domains) and the MIME tokens and parameters of
 * RFC 2045 and RFC 2231, as the ENVELOPE, BODYSTRUCTURE, SEARCH and SORT builders need
 * them.
 *
 * Lenient on purpose: real mail carries obsolete syntax (RFC 5322 section 4: comments
 * and folding between the parts of an address, obs-route, phrases with dots), and an
 * IMAP server must describe it rather than refuse it. libetpan's mailimf parsers refuse
 * those forms, hence this lexer (the model is Dovecot's rfc822-parser).
 *
 * Every function works on [p, end) and never reads outside it. Return values follow
 * one convention: 1 = a token was read and input remains, 0 = a token was read and the
 * input is exhausted, -1 = no valid token at p (p may have moved). */
#ifndef MSS_IMAP_RFC822_H
#define MSS_IMAP_RFC822_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct rfc822_parser {
	const unsigned char *p, *end;
	/* When not NULL, receives the text of the last comment skipped (an address
	 * written "user@domain (Real Name)" takes its display name from there); a
	 * BUF_UNLIMITED buffer. */
	struct buf *last_comment;
};

void rfc822_init(struct rfc822_parser *ps, const void *data, size_t len, struct buf *last_comment);
/* The parsers below append to out and return -1 (broken) when out's limit would be
 * passed: a token is read whole or not at all.
 * Skips white space, folding and (nested) comments. */
int rfc822_skip_lwsp(struct rfc822_parser *ps);
/* atext+ (8-bit bytes count as atext: UTF-8 headers, RFC 6532), appended to out;
 * then skips lwsp. */
int rfc822_parse_atom(struct rfc822_parser *ps, struct buf *out);
/* atom *("." atom), lwsp allowed around the dots (obs-local-part, obs-domain). */
int rfc822_parse_dot_atom(struct rfc822_parser *ps, struct buf *out);
/* A quoted string's content, unescaped, folding CRLFs removed; then skips lwsp. */
int rfc822_parse_quoted_string(struct rfc822_parser *ps, struct buf *out);
/* phrase = 1*(atom / quoted-string / ".") (obs-phrase), the words joined by one space. */
int rfc822_parse_phrase(struct rfc822_parser *ps, struct buf *out);
/* At '@': the domain (dot-atom or [domain literal], kept with its brackets). */
int rfc822_parse_domain(struct rfc822_parser *ps, struct buf *out);
/* A MIME token (RFC 2045 5.1: any CHAR but SPACE, CTLs and tspecials). */
int rfc822_parse_mime_token(struct rfc822_parser *ps, struct buf *out);
/* "type/subtype" (each a MIME token), written "type/subtype" into out. */
int rfc822_parse_content_type(struct rfc822_parser *ps, struct buf *out);

/* One parameter of a Content-Type or Content-Disposition. */
struct rfc822_param {
	char *name;
	char *value;
};
/* Reads the "; name=value" list after a content type or disposition. RFC 2231
 * continuations (name*0, name*1...) are joined; an extended value (name*=, name*0*=)
 * is kept encoded under "name*", as Dovecot reports it. A broken parameter is
 * skipped. Returns the number of parameters in *out (malloc'ed; free with
 * rfc822_params_free), at most max. */
size_t rfc822_parse_params(struct rfc822_parser *ps, struct rfc822_param **out, size_t max);
void rfc822_params_free(struct rfc822_param *v, size_t n);

/* true for RFC 5322 atext (8-bit bytes included). */
bool rfc822_is_atext(unsigned char c);

#endif

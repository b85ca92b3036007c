/* imap_parser.h: IMAP command syntax (RFC 9051 section 9, RFC 3501 section 9), parsed
 * once and incrementally, as the command arrives.
 *
 * The session feeds the parser one line at a time (without its CRLF). A line that
 * ends with a literal announcement "{N}", "{N+}" or "~{N}" stops the parser: the
 * caller decides what to do with the N octets that follow (refuse them, read them into
 * the command with imap_parser_literal_data, or stream them elsewhere, APPEND's
 * message body, and say so with imap_parser_literal_streamed) and then feeds the next
 * line. Each octet of a command is looked at once; the tag and command name are known
 * after the first line, so limits can be chosen before any literal is read, and the
 * arguments before a literal are available to its command (APPEND validates its
 * mailbox before asking for the message). The result is a tree of arguments (atoms,
 * quoted strings, literals, NIL, parenthesised lists) that handlers interpret.
 *
 * Grammar notes (what is accepted beyond the strict ABNF, as Dovecot does):
 * - NIL is an atom too: imap_arg_astring accepts it ("SEARCH SUBJECT NIL");
 * - '[' opens a bracketed part of an atom that may hold spaces and parentheses
 *   (FETCH BODY[HEADER.FIELDS (From)]<0.10>) when a ']' follows on the same line;
 *   otherwise '[' is an ordinary ATOM-CHAR ("SELECT foo[");
 * - ']' is allowed in atoms (resp-specials are ASTRING-CHARs), so are '%' and '*'.
 * Never crashes, never reads outside its input, bounded in depth and argument count
 * (fuzzed). */
#ifndef MSS_IMAP_PARSER_H
#define MSS_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mss_limits.h"

#define IMAP_TAG_MAX MSS_IMAP_TAG_MAX /* lib/mss_limits.h */
#define IMAP_NAME_MAX MSS_IMAP_COMMAND_MAX
#define IMAP_LIST_DEPTH_MAX 16 /* nested parentheses (SEARCH, BODYSTRUCTURE-like input) */
#define IMAP_ARGS_MAX 100000   /* arguments per command, all levels together */

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* also flags (\Seen), sequence sets, FETCH items with [section] */
	IMAP_ARG_QUOTED,  /* "..." with \" and \\ unescaped */
	IMAP_ARG_LITERAL, /* {N}, {N+}, ~{N} data; may hold NUL bytes (len is authoritative) */
	IMAP_ARG_NIL,     /* the atom NIL (its text kept in str) */
	IMAP_ARG_LIST,    /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str;       /* atom/quoted/literal: NUL-terminated copy; NULL for a streamed literal */
	size_t len;            /* its length (a streamed literal: its size) */
	struct imap_arg *list; /* IMAP_ARG_LIST: its items */
	size_t count;          /* number of items */
	bool binary;           /* a literal8 "~{N}" */
};

struct imap_arena;

struct imap_command {
	char tag[IMAP_TAG_MAX + 1];
	char name[IMAP_NAME_MAX + 1]; /* upper-cased; "UID FETCH" for UID commands */
	struct imap_arg *args;        /* top-level arguments after the name */
	size_t nargs;
};

enum imap_parse_result {
	IMAP_PARSE_DONE,    /* the command is complete */
	IMAP_PARSE_LITERAL, /* the line ended with a literal announcement (see above) */
	IMAP_PARSE_ERROR,   /* a syntax error (imap_parser_error); the tag, if read, is set */
};

struct imap_parser;

struct imap_parser *imap_parser_new(void);
void imap_parser_free(struct imap_parser *p);
/* After ENABLE UTF8=ACCEPT or IMAP4rev2: octets >= 0x80 are accepted in atoms too
 * (clients send UTF-8 mailbox names unquoted, as Python's imaplib does; the handler
 * checks the UTF-8). Off by default; kept across imap_parser_reset. */
void imap_parser_set_utf8(struct imap_parser *p, bool on);
/* Forgets the command being parsed (and its arguments): ready for a new one. */
void imap_parser_reset(struct imap_parser *p);
/* Feeds the next line of the command (without CRLF). */
enum imap_parse_result imap_parser_line(struct imap_parser *p, const char *line, size_t len);
/* After IMAP_PARSE_LITERAL: the announced size, whether it is non-synchronising
 * (LITERAL+, RFC 7888), a literal8 (RFC 3516), and how deep in lists it sits (0: a
 * top-level argument). */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
bool imap_parser_literal_nonsync(const struct imap_parser *p);
bool imap_parser_literal_binary(const struct imap_parser *p);
unsigned imap_parser_depth(const struct imap_parser *p);
/* true when a literal was announced and not given yet. */
bool imap_parser_literal_pending(const struct imap_parser *p);
/* The literal's octets (exactly its size) become the next argument. */
void imap_parser_literal_data(struct imap_parser *p, const char *data, size_t len);
/* The literal was read by the command itself: a placeholder (str NULL) stands for it. */
void imap_parser_literal_streamed(struct imap_parser *p);
/* The command so far: tag and name once the first line was read; the top-level
 * arguments read so far (all of them after IMAP_PARSE_DONE). Valid until the next
 * call on p. */
struct imap_command *imap_parser_command(struct imap_parser *p);
/* Why the last IMAP_PARSE_ERROR happened (short text for BAD). */
const char *imap_parser_error(const struct imap_parser *p);

/* One-shot parse of a whole command held in memory: lines and literals as on the wire
 * ("{N}" CRLF N octets). For tests and the fuzzer. Returns 0 with cmd filled (valid
 * until imap_parser_free(*pr)), or -1 with err; *pr is always set and freed by the
 * caller. */
int imap_parse_command(const char *data, size_t len, struct imap_parser **pr, struct imap_command **cmd,
                       char *err, size_t errlen);

/* If a line ends with a literal announcement "{N}" or "{N+}", returns 1 with the size
 * and whether it is non-synchronising; 0 when it does not; -1 when the number is
 * malformed. Used after a syntax error, to know whether octets are on their way. */
int imap_line_literal(const char *line, size_t len, uint64_t *size, bool *nonsync);

/* Helpers for handlers. */
/* true for an atom, quoted string or literal ("astring" / "string" in the grammar). */
bool imap_arg_is_string(const struct imap_arg *a);
/* true when a is an atom (NIL included) equal (case-insensitive) to word. */
bool imap_arg_is_atom(const struct imap_arg *a, const char *word);
/* The string value of an astring (NIL is the atom "NIL"), NULL when a is not one or
 * holds a NUL byte. */
const char *imap_arg_astring(const struct imap_arg *a);

#endif

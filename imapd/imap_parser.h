/* imap_parser.h: IMAP command syntax (RFC 9051 section 9, RFC 3501 section 9).
 *
 * The session's reader assembles one whole command, its literals included, into one
 * byte string: every "{N}" or "{N+}" at the end of a line is followed by CRLF and
 * exactly N literal bytes, then the rest of the command. The parser turns that string
 * into a tree of arguments (atoms, quoted strings, literals, NIL, parenthesised lists)
 * without ever reading the socket, so it is a pure function that unit tests and the
 * fuzzer drive directly. Handlers then interpret the arguments they expect. */
#ifndef MSS_IMAP_PARSER_H
#define MSS_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_TAG_MAX 64        /* longer tags are refused (Dovecot also bounds them) */
#define IMAP_NAME_MAX 32       /* "UID EXPUNGE" fits */
#define IMAP_LIST_DEPTH_MAX 16 /* nested parentheses (SEARCH, BODYSTRUCTURE-like input) */
#define IMAP_ARGS_MAX 100000   /* arguments per command, all levels together */

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* also flags (\Seen), sequence sets, FETCH items with [section] */
	IMAP_ARG_QUOTED,  /* "..." with \" and \\ unescaped */
	IMAP_ARG_LITERAL, /* {N}, {N+}, ~{N} data; may hold NUL bytes (len is authoritative) */
	IMAP_ARG_NIL,     /* the atom NIL */
	IMAP_ARG_LIST,    /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str;       /* atom/quoted/literal: NUL-terminated copy */
	size_t len;            /* its length */
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
	struct imap_arena *arena; /* owns args and their strings */
};

/* Parses the tag and command name only (enough to answer BAD with the right tag and
 * to choose limits before the literals are read). line is the first line of the
 * command. Returns 0, or -1 with err; tag is set whenever one could be read ("*"
 * otherwise). */
int imap_parse_head(const char *line, size_t len, char *tag, size_t taglen, char *name, size_t namelen,
                    char *err, size_t errlen);

/* Parses a whole assembled command. cmd is filled (imap_command_free releases it,
 * also after a failure). Returns 0, or -1 with a short err for a tagged BAD (the tag
 * is filled when it could be read). Never reads beyond len, never crashes on any
 * input (fuzzed). */
int imap_parse_command(const char *data, size_t len, struct imap_command *cmd, char *err, size_t errlen);
void imap_command_free(struct imap_command *cmd);

/* If a line ends with a literal announcement "{N}" or "{N+}", returns 1 with the size
 * and whether it is non-synchronising (LITERAL+, RFC 7888); 0 when it does not; -1 when
 * the number is malformed or does not fit in 63 bits. */
int imap_line_literal(const char *line, size_t len, uint64_t *size, bool *nonsync);

/* Helpers for handlers. */
/* true for an atom, quoted string or literal ("astring" / "string" in the grammar). */
bool imap_arg_is_string(const struct imap_arg *a);
/* true when a is an atom equal (case-insensitive) to word. */
bool imap_arg_is_atom(const struct imap_arg *a, const char *word);
/* The string value of an astring, NULL when a is not one (or holds a NUL byte). */
const char *imap_arg_astring(const struct imap_arg *a);

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

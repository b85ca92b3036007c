/* msg.h: a message parsed once, for every stage of a delivery.
 *
 * One libetpan pass (mailmime_parse, which reads the RFC 5322 header and the RFC 2045
 * MIME tree together) extracts what the later stages ask of a message: the header
 * fields the policy, the contacts and the identity check read (From, Sender, Reply-To,
 * Subject, Message-ID, Date, X-MSS-*), and the MIME tree as a flat array of parts with
 * their byte ranges, types and file names. A part's content is decoded only when a
 * stage asks for it (msg_part_decode), so the parse costs one pass and a little memory
 * per part, whatever the message's size. (Postfix cleanup(8): one pass extracts
 * everything, later stages read the extracted form.)
 *
 * The form is independent of any wire format: offsets, types and parameters, never an
 * IMAP ENVELOPE. libetpan's own tree is kept (msg.tree) for the builders that need every
 * parameter of every part (ENVELOPE/BODYSTRUCTURE), so that they need no second parse.
 *
 * What is beyond the limits (more parts than max_parts, deeper than max_depth) is not
 * described, and msg.complete says so: a stage that must see everything (the patient's
 * copy) then fails closed. Pure: no I/O, no logging; fuzzed (tests/fuzz/fuzz_msg.c). */
#ifndef MSS_MSG_H
#define MSS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mss_limits.h"
#include "lib/buf.h"

#define MSG_ADDR_MAX MSS_ADDRESS_SIZE
#define MSG_NAME_MAX MSS_DISPLAY_NAME_SIZE
#define MSG_ADDRESSES_MAX MSS_ADDRESSES_PER_FIELD_MAX

/* One mailbox of an address field. */
struct msg_address {
	char addr[MSG_ADDR_MAX]; /* addr-spec as sent ("dr.martin@pro.mss.test"); "" when unreadable */
	char name[MSG_NAME_MAX]; /* display name decoded to UTF-8, "" when none */
};

struct msg_address_list {
	struct msg_address *v; /* owned */
	size_t n;              /* kept (at most MSG_ADDRESSES_MAX) */
	size_t total;          /* mailboxes the field(s) held, groups expanded */
};

/* The top-level header fields the delivery's stages read. Strings "" when absent. */
struct msg_header {
	struct msg_address_list from;     /* RFC 5322 3.6.2 */
	struct msg_address_list sender;   /* at most one mailbox when well-formed */
	struct msg_address_list reply_to; /* mailboxes of Reply-To (groups expanded) */
	unsigned from_fields;             /* how many From: fields (RFC 5322 3.6: one) */
	unsigned sender_fields;           /* how many Sender: fields (at most one) */
	/* A From or Sender that a mail client may show but that was not read as addresses:
	 * a field libetpan kept as unknown, a line after one where its parse stopped, an
	 * address too long to keep, or more than MSG_ADDRESSES_MAX of them. The identity
	 * check (auth/identity.h) refuses such a header: what we cannot read, a client may
	 * still show as the author. */
	bool authors_unreadable;
	char subject[1024];      /* decoded (RFC 2047) to UTF-8, unfolded */
	char raw_subject[1024];  /* as sent, unfolded, surrounding blanks trimmed */
	bool subject_cut;        /* Subject longer than those: they hold its beginning */
	char message_id[256];    /* without the angle brackets */
	int64_t date;            /* Date: as unix time, 0 when absent or unreadable */
	char x_mss_ins[16];      /* X-MSS-INS, trimmed */
	char x_mss_codecda[256]; /* X-MSS-CODECDA, trimmed */
	bool fin;                /* X-MSS-MES: FIN (any case), or Subject exactly "[FIN]" */
	size_t size;             /* octets of the header block, its blank line included */
};

enum msg_part_kind {
	MSG_PART_LEAF,      /* a single part: its body is content */
	MSG_PART_MULTIPART, /* multipart/<any>: children follow */
	MSG_PART_MESSAGE,   /* a message: the whole message (part 0), or message/rfc822 inside */
};

enum msg_encoding {
	MSG_ENC_7BIT,
	MSG_ENC_8BIT,
	MSG_ENC_BINARY,
	MSG_ENC_BASE64,
	MSG_ENC_QP,
	MSG_ENC_OTHER, /* an unknown Content-Transfer-Encoding: the body as sent */
};

/* One node of the MIME tree. parts[0] is the message itself; children follow their
 * parent in document order (depth first), so a part's descendants are the parts after
 * it up to the next part whose depth is not greater. */
struct msg_part {
	enum msg_part_kind kind;
	int parent;            /* index of the parent, -1 for parts[0] */
	unsigned depth;        /* 0 for the message, 1 for its body, ... */
	size_t start, end;     /* the part as sent: its MIME header and body (for a message's only
	                          body, the body alone: its header is the message's) */
	size_t body, body_len; /* the encoded body inside [start, end) */
	char type[128];        /* "application/pdf", lowercase; "text/plain" when absent */
	char filename[256];    /* Content-Disposition filename, else Content-Type name; decoded, cut to
	                          255 octets (a display name, never a key) */
	char charset[64];      /* lowercase, "" when absent */
	enum msg_encoding encoding;
	bool attachment; /* Content-Disposition: attachment */
	bool whole_body; /* the message's only body (parent is parts[0]) */
};

struct mailmime;
struct msg {
	const char *data; /* the message as given (not owned; keep it alive) */
	size_t len;
	struct msg_header h;
	struct msg_part *parts; /* owned; nparts >= 1 after a successful parse */
	size_t nparts;
	bool complete;         /* false: parts past the limits were not described */
	struct mailmime *tree; /* libetpan's tree (into data), for builders needing every detail */
};

struct msg_limits {
	size_t max_parts;   /* parts described (default 1024) */
	unsigned max_depth; /* nesting described (default 16) */
};
void msg_limits_default(struct msg_limits *l);
/* The limits the configuration sets (max_mime_parts, max_mime_depth). */
struct mss_config;
void msg_limits_from_config(const struct mss_config *cfg, struct msg_limits *l);

/* Parses data (CRLF or LF lines, not NUL-terminated). Returns 0 with m filled (free it
 * with msg_free), or -1 with err when the bytes are not a message at all (m is then
 * empty and needs no msg_free, though calling it is harmless). Malformed MIME inside a
 * readable header is not an error: the body is then described as one text part. */
int msg_parse(const char *data, size_t len, const struct msg_limits *lim, struct msg *m, char *err,
              size_t errlen);
void msg_free(struct msg *m);

/* Appends the decoded content of leaf part i (base64 and quoted-printable undone) to
 * out. Returns 0, or -1 when i is not a leaf or the content cannot be decoded. The
 * caller frees out; at most out's limit is kept (-1 past it). */
int msg_part_decode(const struct msg *m, size_t i, struct buf *out);

/* Octets of a message's header block, its blank line included (len when there is no
 * body). For bytes msg_parse refused too. */
size_t msg_header_size(const char *data, size_t len);
/* The fields named From or Sender in the header block data[0, header_size), counted as
 * a mail client finds them, whatever their value. For bytes msg_parse refused too. */
unsigned msg_author_fields(const char *data, size_t header_size);
/* The text a reader shows of every field named name (From, Sender) in the header block
 * data[0, header_size), found as msg_author_fields finds them: their values unfolded,
 * one space between fields, parentheses as spaces and encoded words (RFC 2047) decoded
 * to UTF-8. A comment is the name many readers show beside an address (RFC 822's
 * "address (Full Name)"), which libetpan's parse leaves out. Lookalikes of '@' and '.'
 * (fullwidth, small, ideographic: U+FF20, U+FE6B, U+FF0E, U+3002...) come out as their
 * ASCII forms, so that an address written with them reads as the address it shows
 * (this text serves that check only). Returns a malloc'ed string ("" when none). */
char *msg_field_text(const char *data, size_t header_size, const char *name);

/* true when s is "type/subtype", each an RFC 2045 token (no spaces, controls, tspecials,
 * parameters), at most 127 octets: safe to write into a Content-Type header. */
bool msg_mime_type_valid(const char *s);

/* true when part i lies inside a message/rfc822 part (a forwarded message). */
bool msg_part_forwarded(const struct msg *m, size_t i);

/* Index just past part i's descendants (the next part that is not inside i). */
size_t msg_part_next_sibling(const struct msg *m, size_t i);

#endif

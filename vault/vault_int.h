/* vault_int.h: what the vault's files share inside vault/ (not for other parts). */
#ifndef MSS_VAULT_INT_H
#define MSS_VAULT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "vault/vault_classify.h"

struct msg_part;
struct vault_item;

/* true when part p (its decoded bytes data/len) is a document: attached, named, not
 * the message's text or HTML, or a text part whose bytes are a known document format. */
bool vault_is_document(const struct msg_part *p, const char *data, size_t len);
/* true when a text carries a file encoded inside it: a uuencoded block ("begin 644
 * name"), yEnc ("=ybegin ") or BinHex. Mail clients (Thunderbird) show such a block as
 * an attachment, which the server never inspected. */
bool vault_text_embeds_file(const char *data, size_t len);
/* true when a PDF carries files of its own (ISO 32000-1 7.11.4: an /EmbeddedFile
 * stream or the /EmbeddedFiles name tree) or rich media: a PDF reader lists them as
 * attachments, which the server never opened. The names are matched in the file's
 * bytes: a name hidden by #-escapes or only inside a compressed object stream is not
 * seen (no PDF library among the chosen dependencies; doc/vault.md says so). */
bool vault_pdf_embeds_file(const char *data, size_t len);

/* The MIME type the bytes really are (magic numbers first: PDF, ZIP, JPEG, PNG, GIF,
 * TIFF, DICOM, CDA XML), else the declared one when it is a bare type/subtype, else
 * application/octet-stream. Always a valid "type/subtype", lowercase, into out of
 * VAULT_MIME_SIZE bytes or more (a declared type that does not fit is not used). */
#define VAULT_MIME_SIZE 128
void vault_sniff(const char *data, size_t len, const char *declared, const char *filename, char *out,
                 size_t outlen);

/* Copies a fixed-size text field into one at least as large: the compiler proves the
 * copy can never be cut (both must be arrays, not pointers). */
#define VAULT_FIELD_COPY(dst, src)                                                                           \
	do {                                                                                                 \
		_Static_assert(!__builtin_types_compatible_p(__typeof__(src), __typeof__(&(src)[0])),        \
		               #src " is an array");                                                         \
		_Static_assert(sizeof(dst) >= sizeof(src), #dst " holds " #src);                             \
		memcpy(dst, src, sizeof(src));                                                               \
	} while (0)

#define VAULT_MAX_RENDITIONS 8 /* readable copies attached to one document */

/* A document about to be filed. */
struct vault_doc {
	const struct vault_item *item; /* the part it comes from (an XDM archive for entries) */
	int entry;                     /* its index in item->md, -1 for a part's own bytes */
	const char *data;              /* its bytes (an entry's are read just before storing) */
	size_t len;
	char mime[128];
	char filename[256];
	enum vault_class cls;
	char type_code[64]; /* LOINC when known */
	char type_label[256];
	char author[256]; /* as the document's metadata say (may be anyone: shown beside the sender) */
	char title[256];
	char created[32];     /* YYYYMMDDhhmmss[+zzzz] as the document says, "" when unknown */
	int64_t created_time; /* the same as unix time, 0 when unknown */
	char unique_id[128];
	char entry_uuid[128]; /* the XDS entry's id (ExtrinsicObject id) */
	char replaces[128];   /* the entryUUID an RPLC association says this document replaces */
	char set_id[160];     /* a CDA's setId, and its versionNumber */
	int version;
	bool masked_ps;
	bool invisible_patient;
	bool from_xdm;
	bool cls_known;        /* classified from its own code (CDA): kept as is */
	bool has_own_identity; /* a CDA naming its patient itself: never another's rendition */
	int rendition_of;      /* another document's index when this is its readable copy, else -1 */
	int renditions[VAULT_MAX_RENDITIONS]; /* this document's readable copies */
	size_t nrenditions;
	int error_code;  /* 0: to file; else the integration error (900...906) */
	char error[160]; /* why, in words (no content) */
};

/* The message that holds one vault document (see vault.h for its headers), with its
 * readable copies attached after it. from: the authenticated sender's address,
 * sender_name: how the patient knows them. Returns 0 or -1. */
struct vault_build {
	const struct vault_doc *doc;
	const struct vault_doc *const *renditions;
	size_t nrenditions;
	const char *from;        /* the authenticated sender (account or MAIL FROM) */
	const char *sender_name; /* their name, else from */
	const char *patient;
	const char *source_message_id;
	const char *service_domain;
	const char *timezone; /* for the Date header and the dates shown */
	const char *replaced; /* when the version it replaces was filed ("le 29/11/2026 à 09:30"), or NULL */
};
int vault_build_document(struct buf *out, const struct vault_build *b);

/* "20261129093000+0100" (HL7 TS; no zone: UTC, as XDS creationTime is) -> unix time,
 * 0 when it is not a date. */
int64_t vault_hl7_time(const char *ts);

/* Label of an integration error code ("INS du document différent de celui du patient"). */
const char *vault_ko_label(int code);

#endif

/* vault_xdm.h: reading IHE XDM archives (IHE_XDM.ZIP) and their XDS metadata.
 *
 * Pure functions on bytes: no database, no files, no logging, so that they can be
 * fuzzed. The archive is read with libzip from memory, METADATA.XML with expat.
 * Every size is bounded: a zip bomb (too many entries, too many bytes once
 * uncompressed, too high a compression ratio) is refused before anything is
 * inflated, and reads never produce more than the declared size. */
#ifndef MSS_VAULT_XDM_H
#define MSS_VAULT_XDM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mss_limits.h"
#include "lib/buf.h"

#define XDM_METADATA_PATH "IHE_XDM/SUBSET01/METADATA.XML"
#define XDM_MAX_DOCUMENTS MSS_XDM_DOCUMENTS_MAX

/* One XDS DocumentEntry (ebRIM ExtrinsicObject). Strings are UTF-8, NUL-terminated,
 * "" when absent, cut to their size. */
struct xdm_document {
	char entry_id[128];     /* ExtrinsicObject id attribute */
	char uri[256];          /* Slot URI: the file name inside SUBSET01 */
	char mime_type[128];    /* mimeType attribute */
	char patient_ins[64];   /* patientId CX first component (the INS) */
	char patient_oid[64];   /* patientId assigning authority OID */
	char type_code[64];     /* typeCode nodeRepresentation (mostly LOINC) */
	char type_scheme[64];   /* typeCode codingScheme */
	char type_label[256];   /* typeCode display name */
	char class_code[64];    /* classCode nodeRepresentation */
	char author[256];       /* author person as "First LAST", else institution name */
	char creation_time[32]; /* creationTime slot, e.g. 20261129093000 */
	char title[256];        /* Name/LocalizedString */
	char unique_id[128];    /* XDSDocumentEntry.uniqueId */
	char replaces[128];     /* targetObject of an RPLC association from this entry (ITI TF-3 4.2.2):
	                           the entryUUID of the document it replaces */
	char hash[64];          /* hash slot: SHA-1 hex of the file */
	uint64_t size;          /* size slot (0 when absent) */
	bool has_size;
	bool masked_ps;                 /* confidentialityCode MASQUE_PS */
	bool invisible_patient;         /* confidentialityCode INVISIBLE_PATIENT */
	bool invisible_representatives; /* INVISIBLE_REPRESENTANTS_LEGAUX */
};

struct xdm_metadata {
	struct xdm_document docs[XDM_MAX_DOCUMENTS];
	size_t ndocs;
	char submission_ins[64]; /* SubmissionSet patientId, when the entries lack one */
	char submission_oid[64];
	bool truncated; /* more than XDM_MAX_DOCUMENTS entries: the rest ignored */
};

/* Parses an ebRIM 3.0 SubmitObjectsRequest (namespace prefixes do not matter). A
 * document type declaration is refused (no entity expansion). Returns 0 (out filled),
 * or -1 with err on malformed XML or when it is not XDS metadata. */
int xdm_metadata_parse(const char *xml, size_t len, struct xdm_metadata *out, char *err, size_t errlen);

/* True when oid is one of the INS assigning authorities (NIR, NIA, test, demo). */
bool xdm_is_ins_oid(const char *oid);

struct xdm_limits {
	uint64_t max_entries; /* entries in the archive */
	uint64_t max_total;   /* sum of uncompressed sizes */
	uint64_t max_entry;   /* one entry uncompressed */
	uint64_t max_ratio;   /* uncompressed / compressed, per entry */
};
/* The defaults: 256 entries, 64 MiB total, 32 MiB per entry, ratio 200. */
void xdm_limits_default(struct xdm_limits *l);

enum xdm_result {
	XDM_OK = 0,
	XDM_NOT_ZIP,      /* not a readable ZIP archive */
	XDM_TOO_LARGE,    /* over the limits: a zip bomb or simply too big; nothing inflated */
	XDM_NO_METADATA,  /* no IHE_XDM/SUBSET01/METADATA.XML */
	XDM_BAD_METADATA, /* METADATA.XML is not well-formed XDS metadata */
	XDM_OPAQUE,       /* holds what a patient could open and the server did not read */
};
const char *xdm_result_text(enum xdm_result r);

struct xdm_archive;
/* Opens an archive held in memory (the caller keeps zip alive until xdm_close) and
 * checks the limits over every entry. Returns XDM_OK with *out, or another result
 * with err. */
enum xdm_result xdm_open(const void *zip, size_t len, const struct xdm_limits *lim, struct xdm_archive **out,
                         char *err, size_t errlen);
void xdm_close(struct xdm_archive *a);
/* The bytes the whole archive expands to (its entries' declared sizes, added up): no
 * read from it can produce more, since reads stop at each entry's declared size. */
uint64_t xdm_archive_total(const struct xdm_archive *a);
/* Fail closed on what the server does not open (issue 11): true when data is itself
 * an archive or a compressed file (ZIP, gzip, bzip2, xz, zstd, 7z, RAR, cabinet, tar:
 * by its first bytes), or when name (may be NULL) ends with such an extension or ".eml"
 * (a message a patient's mail client opens). */
bool xdm_is_container(const void *data, size_t len, const char *name);
/* Checks that the archive holds nothing a patient could open that the server does not
 * read: no archive or message inside it (xdm_is_container, on each entry's name and
 * first bytes), no encrypted entry, no METADATA.XML but IHE_XDM/SUBSET01's (a second
 * submission set, IHE ITI TF-1 16, would go unread). Returns XDM_OK, XDM_OPAQUE with
 * err, or XDM_NOT_ZIP for an entry that cannot be read. Inflates at most a few hundred
 * bytes of each entry. */
enum xdm_result xdm_check_opaque(struct xdm_archive *a, char *err, size_t errlen);
/* Reads METADATA.XML and parses it. XDM_OK, XDM_NO_METADATA or XDM_BAD_METADATA. */
enum xdm_result xdm_read_metadata(struct xdm_archive *a, struct xdm_metadata *md, char *err, size_t errlen);
/* Reads the document file named by uri (relative to IHE_XDM/SUBSET01/, no "..")
 * into out (appended). Returns 0, or -1 with err (missing, unsafe name, over limits,
 * corrupt). */
int xdm_read_document(struct xdm_archive *a, const char *uri, struct buf *out, char *err, size_t errlen);
/* Checks a document's bytes against its metadata hash (SHA-1 hex) and size when given.
 * Returns 0 when they agree (or are absent), -1 with err naming which differs. */
int xdm_check_document(const struct xdm_document *d, const void *data, size_t len, char *err, size_t errlen);

#endif

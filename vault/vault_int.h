/* vault_int.h: what the vault's files share inside vault/ (not for other parts). */
#ifndef MSS_VAULT_INT_H
#define MSS_VAULT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault/vault_classify.h"

#define VAULT_MAX_PARTS 64

/* One attachment of the incoming message, decoded. */
struct vault_part {
	char *data; /* malloc'ed decoded bytes */
	size_t len;
	char declared_mime[128]; /* lowercased type/subtype as sent */
	char filename[256];      /* decoded, "" when none */
	const char *raw;         /* the part as sent (MIME header + body), inside the parsed data */
	size_t rawlen;
	bool whole_body; /* the message's only body (its MIME header is the message's) */
};

/* The incoming message as the vault needs it. Strings "" when absent. */
struct vault_parsed {
	char subject[512];    /* decoded to UTF-8 */
	char message_id[256]; /* without the angle brackets */
	char x_mss_ins[16];
	char x_mss_codecda[256];
	struct vault_part parts[VAULT_MAX_PARTS];
	size_t nparts;
	bool parts_truncated;
};

/* Parses a whole message with libetpan; collects the parts that are documents
 * (attachments, anything with a file name, application/image types; not the inline
 * text or HTML body). Returns 0, or -1 with err when it is not parseable at all. */
int vault_parse_message(const char *data, size_t len, struct vault_parsed *out, char *err, size_t errlen);
void vault_parsed_free(struct vault_parsed *p);

/* The MIME type the bytes really are (magic numbers first: PDF, ZIP, JPEG, PNG, GIF,
 * TIFF, DICOM, CDA XML), else the declared one, else application/octet-stream. */
void vault_sniff(const char *data, size_t len, const char *declared, const char *filename, char *out,
                 size_t outlen);

/* A document about to be filed. */
struct vault_doc {
	const char *data;
	size_t len;
	char mime[128];
	char filename[256];
	enum vault_class cls;
	char type_code[64]; /* LOINC when known */
	char type_label[256];
	char author[256];
	char title[256];
	char created[32]; /* YYYYMMDDhhmmss when known */
	char unique_id[128];
	bool masked_ps;
	bool invisible_patient;
	bool from_xdm;
	bool cls_known;  /* classified from its own code (CDA): kept as is */
	int error_code;  /* 0: to file; else the integration error (902...906) */
	char error[160]; /* why, in words (no content) */
};

/* Builds the document message (see vault.h for its headers). Returns 0 or -1. */
struct buf;
int vault_build_document(struct buf *out, const struct vault_doc *d, const char *from, const char *patient,
                         const char *source_message_id, const char *service_domain);

/* Sends the sender an integration error report for the refused documents (when the
 * sender has a mailbox here). Returns 0 sent, 1 not sendable (remote sender), -1. */
struct store;
int vault_send_ko(struct store *store, const char *sender, const char *patient,
                  const struct vault_parsed *msg, const struct vault_doc *docs, size_t ndocs, int code);

/* Label of an integration error code ("INS du document différent de celui du patient"). */
const char *vault_ko_label(int code);

#endif

/* vault_inspect.h: what the vault learns of a message, once per delivery.
 *
 * From the parsed form (msg/), each leaf part is decoded once and classed: the
 * message's own text, a document (what its bytes really are; a CDA's identity), an IHE
 * XDM archive whose metadata were read whole, a ZIP without metadata, or a part that
 * was NOT inspected. The patient's copy (vault_copy_decide) and the filing
 * (vault_file_delivery) both read this one inspection: they can never disagree on what
 * a message holds, and neither parses it again.
 *
 * Fail closed: a part is "not inspected" when the message carries more documents than
 * vault_max_documents (parts and XDM entries counted), when an archive is over its
 * limits or would expand the message past max_message_size, when its metadata are
 * unreadable or hold more entries than an archive may (XDM_MAX_DOCUMENTS), every part
 * past max_mime_parts / max_mime_depth (msg.complete false), and what the server does
 * not open while a patient's tools do: a message or multipart under a base64 or QP
 * transfer encoding (then one item for it, nothing inside looked at), message/global
 * and the like, an unknown transfer encoding (x-uuencode), a text with a uuencoded,
 * yEnc, BinHex or OpenPGP block inside (vault_text_embeds_file), an encrypted or
 * wrapped part (S/MIME, PGP/MIME, TNEF), a PDF with files of its own
 * (vault_pdf_embeds_file), an archive other than a ZIP
 * or an .eml file, a ZIP holding any of these, an encrypted entry or other metadata
 * (xdm_check_opaque). Such a part is never shown to a patient nor filed, and its
 * sender is told. */
#ifndef MSS_VAULT_INSPECT_H
#define MSS_VAULT_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "msg/msg.h"
#include "vault/vault_cda.h"
#include "vault/vault_xdm.h"

enum vault_item_kind {
	VITEM_TEXT,        /* the message's own text or HTML: not a document */
	VITEM_DOCUMENT,    /* one document: PDF, image, CDA, text file, ... */
	VITEM_XDM,         /* an IHE XDM archive whose metadata were read whole */
	VITEM_ARCHIVE,     /* a ZIP without XDM metadata: one document, kept whole */
	VITEM_UNINSPECTED, /* may hold documents, was not inspected (why says why) */
};

/* One leaf part of the message (or a part not opened: VITEM_UNINSPECTED), in document
 * order. */
struct vault_item {
	size_t part; /* index in msg->parts */
	enum vault_item_kind kind;
	bool forwarded;          /* inside a message/rfc822 part: never filed */
	char mime[128];          /* what the bytes are (vault_sniff) */
	struct buf data;         /* decoded bytes (documents, archives, uninspected parts) */
	struct xdm_archive *xdm; /* VITEM_XDM: open over data, to read the entries */
	struct xdm_metadata *md; /* VITEM_XDM */
	bool has_cda;            /* a CDA document: cda holds what it says */
	struct cda_info cda;
	char why[160]; /* VITEM_UNINSPECTED: why, in words (never content) */
};

struct vault_limits {
	unsigned max_documents; /* vault_max_documents */
	uint64_t max_expanded;  /* max_message_size: all archives of a message together */
	struct xdm_limits xdm;  /* each archive */
};
void vault_limits_from_config(const struct mss_config *cfg, struct vault_limits *l);

struct vault_inspection {
	const struct msg *msg;
	struct vault_item *items; /* owned */
	size_t nitems;
	unsigned documents; /* counted so far against max_documents */
	uint64_t expanded;  /* what the archives may expand to, together */
};

/* Inspects every leaf part of m within lim. Returns 0 (in filled; free it with
 * vault_inspection_free), -1 on an internal error only (memory). Keeps pointers into
 * m: m outlives in. */
int vault_inspect(const struct msg *m, const struct vault_limits *lim, struct vault_inspection *in);
void vault_inspection_free(struct vault_inspection *in);

/* true for an archive item (XDM, plain ZIP, or a ZIP that was not inspected). */
bool vault_item_is_archive(const struct vault_item *it);

#endif

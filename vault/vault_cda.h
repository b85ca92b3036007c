/* vault_cda.h: the little the vault reads from a CDA R2 document: the patient's INS,
 * the document code, its title and date, and which document and version it is.
 * A pure function on bytes (fuzzed with the XDM reader); expat, no DOCTYPE. */
#ifndef MSS_VAULT_CDA_H
#define MSS_VAULT_CDA_H

#include <stddef.h>

struct cda_info {
	char ins[64];            /* recordTarget/patientRole/id@extension whose @root is an INS OID */
	char oid[64];            /* that @root */
	char code[64];           /* ClinicalDocument/code@code (LOINC) */
	char title[256];         /* ClinicalDocument/title */
	char effective_time[32]; /* ClinicalDocument/effectiveTime@value: the document's date */
	char set_id[160];        /* ClinicalDocument/setId "@root^@extension": one per document across
	                            its versions */
	int version;             /* ClinicalDocument/versionNumber@value, 0 when absent */
};

/* Returns 0 (out filled, fields "" when absent), or -1 with err when the bytes are
 * not a well-formed ClinicalDocument. */
int cda_parse(const char *xml, size_t len, struct cda_info *out, char *err, size_t errlen);

/* Renders the document's narrative (its title, each section's title and text) as one
 * self-contained HTML page appended to out: the narrative block's elements (paragraph,
 * list/item, table and its parts, content, br, sub, sup, caption, footnote) become
 * fixed HTML tags without attributes, all text is escaped, and everything else (other
 * elements and namespaces, every attribute: scripts, images, links) is dropped with its
 * content. Returns 0, 1 when the document has no structured narrative (nonXMLBody:
 * nothing appended), -1 with err when it is not a well-formed ClinicalDocument. Pure,
 * fuzzed (tests/fuzz/fuzz_cda.c). */
struct buf;
int cda_render_html(const char *xml, size_t len, struct buf *out, char *err, size_t errlen);

#endif

/* vault_cda.h: the little the vault reads from a CDA R2 document sent on its own
 * (outside an XDM archive): the patient's INS, the document code and its title.
 * A pure function on bytes (fuzzed with the XDM reader); expat, no DOCTYPE. */
#ifndef MSS_VAULT_CDA_H
#define MSS_VAULT_CDA_H

#include <stddef.h>

struct cda_info {
	char ins[64];    /* recordTarget/patientRole/id@extension whose @root is an INS OID */
	char oid[64];    /* that @root */
	char code[64];   /* ClinicalDocument/code@code (LOINC) */
	char title[256]; /* ClinicalDocument/title */
};

/* Returns 0 (out filled, fields "" when absent), or -1 with err when the bytes are
 * not a well-formed ClinicalDocument. */
int cda_parse(const char *xml, size_t len, struct cda_info *out, char *err, size_t errlen);

#endif

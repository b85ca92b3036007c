/* vault_classify.h: which Documents/<Class> folder a vault document goes to.
 *
 * From the document's type code (LOINC) through a built-in table that the
 * administrator extends or overrides with the file named by vault_classes_file
 * ("CODE = Class" lines, '#' comments); without a code, from the MIME type, the
 * file name and the message subject; else Autres. */
#ifndef MSS_VAULT_CLASSIFY_H
#define MSS_VAULT_CLASSIFY_H

#include <stddef.h>

enum vault_class {
	VAULT_ORDONNANCES = 0,
	VAULT_BIOLOGIE,
	VAULT_IMAGERIE,
	VAULT_COMPTES_RENDUS,
	VAULT_HOSPITALISATION,
	VAULT_VACCINATIONS,
	VAULT_AUTRES,
	VAULT_NCLASSES
};

/* "Biologie" for VAULT_BIOLOGIE: the folder name under Documents/. */
const char *vault_class_name(enum vault_class c);
/* Parses a class name (case-insensitive). Returns 0 or -1 when unknown. */
int vault_class_parse(const char *name, enum vault_class *out);

/* Loads the administrator's table (replacing any loaded before) on top of the built-in
 * one. path "" clears it. Returns 0, or -1 with err = "FILE:LINE: why" (the built-in
 * table alone then stays in force). */
int vault_classes_load(const char *path, char *err, size_t errlen);
/* Class of a type code: the administrator's row first, then the built-in table.
 * Returns 0 with *out, or -1 when the code is not known (caller falls back). */
int vault_classify_code(const char *code, enum vault_class *out);
/* Class from X-MSS-CODECDA-like lists "code[,code...]": the first known code. */
int vault_classify_code_list(const char *list, enum vault_class *out);
/* Class without metadata: from the file name, the MIME type, then the subject (any may
 * be NULL or ""), by keywords in French and English; VAULT_AUTRES when nothing fits. */
enum vault_class vault_classify_guess(const char *mime, const char *filename, const char *subject);

#endif

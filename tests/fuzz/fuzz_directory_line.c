/* fuzz-libs: directory lib */
/* fuzz_directory_line: the "Extraction Correspondance MSSanté" parser on arbitrary
 * bytes. The input's first line is parsed as the header; every following line as data
 * under it, and also under the published 31-column header, so that both the header
 * matching and the field splitter see hostile input (bad UTF-8, NULs, no '|', thousands
 * of fields, over-long fields, CR everywhere). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "directory/directory_line.h"

static const char published[] =
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
    "Type identifiant structure|Identification Structure|Service de rattachement|"
    "Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|"
    "Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|"
    "Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|Complément destinataire|"
    "Complément point géographique|Numéro Voie|Indice répétition voie|Code type de voie|"
    "Libellé type de voie|Libellé Voie|Mention distribution|Bureau cedex|Code postal|Code commune|Pays";

static void parse_lines(const struct dir_header *h, const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct dir_entry e;
		struct dir_structure s;
		char err[128];
		if (n <= DIR_MAX_LINE && dir_line_parse(h, p, n, &e, &s, err, sizeof err) == 0) {
			/* A line that parses must give a NUL-terminated lowercase address. */
			if (memchr(e.address, '\0', sizeof e.address) == NULL || e.address[0] == '\0')
				__builtin_trap();
		}
		p += n + (nl != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *nl = memchr(p, '\n', size);
	size_t hlen = (size_t)((nl ? nl : end) - p);
	struct dir_header h, pub;
	char err[128];
	if (hlen <= DIR_MAX_LINE && dir_header_parse(p, hlen, &h, err, sizeof err) == 0)
		parse_lines(&h, nl ? nl + 1 : end, end);
	if (dir_header_parse(published, sizeof published - 1, &pub, err, sizeof err) != 0)
		__builtin_trap();
	parse_lines(&pub, p, end);
	return 0;
}

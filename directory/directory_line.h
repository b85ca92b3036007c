/* directory_line.h: the pure parser of "Extraction Correspondance MSSanté" lines.
 *
 * No I/O and no database: bytes in, a struct out, so that it can be unit-tested and
 * fuzzed alone. Columns are found by header name, never by position, because the
 * publisher has changed the column set between versions (31, then 32 columns). */
#ifndef MSS_DIRECTORY_LINE_H
#define MSS_DIRECTORY_LINE_H

#include <stddef.h>

#include "directory/directory_entry.h"

/* The columns MSS reads; every other column is ignored. */
enum dir_col {
	DCOL_BAL_TYPE,
	DCOL_ADDRESS,
	DCOL_PP_ID_TYPE,
	DCOL_PP_ID,
	DCOL_PP_NATIONAL_ID,
	DCOL_STRUCT_ID_TYPE,
	DCOL_STRUCT_ID,
	DCOL_SERVICE,
	DCOL_CIVILITY,
	DCOL_LAST_NAME,
	DCOL_FIRST_NAME,
	DCOL_PROF_CODE,
	DCOL_PROF_LABEL,
	DCOL_SF_CODE,
	DCOL_SF_LABEL,
	DCOL_STRUCT_NAME,
	DCOL_POSTCODE,
	DCOL_COUNT
};

/* The file's most fields per line we accept: far above the 32 of today's files. */
#define DIR_MAX_FIELDS 256
/* The longest line we read; longer ones are unreadable (bounded memory). */
#define DIR_MAX_LINE 16384

struct dir_header {
	int col[DCOL_COUNT]; /* field index of each column, -1 when the file lacks it */
	size_t nfields;      /* fields in the header line */
};

/* The column's name as the publisher writes it (for messages). */
const char *dir_col_name(enum dir_col c);

/* Parses the header line (without its newline; a trailing CR and a UTF-8 byte order mark
 * are ignored). Names are compared ignoring case, accents, the apostrophe's form and
 * surrounding spaces. Returns 0, or -1 with err naming the first missing required
 * column (or saying the line is not UTF-8). */
int dir_header_parse(const char *line, size_t len, struct dir_header *h, char *err, size_t errlen);

/* Parses one data line (without its newline; a trailing CR is ignored) into e and st.
 * Returns 0 when read, 1 when the line is empty (to skip silently), -1 when it cannot
 * be read, with err saying why (bad UTF-8, wrong number of fields, bad address, unknown
 * BAL type, field too long). Never reads outside [line, line + len). */
int dir_line_parse(const struct dir_header *h, const char *line, size_t len, struct dir_entry *e,
                   struct dir_structure *st, char *err, size_t errlen);

/* Maps the file's identifier type codes to names: PP "8" -> "RPPS", "0" -> "ADELI";
 * structure "1" -> "FINESS", "2" -> "SIREN", "3" -> "SIRET", "4" -> "RPPS". Names already
 * spelt out are kept (uppercased); unknown codes are returned as they are. */
const char *dir_pp_id_type_name(const char *code);
const char *dir_struct_id_type_name(const char *code);

#endif

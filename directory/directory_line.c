/* directory_line.c: header and line parser of the public directory extraction. */

#include <stdbool.h>
#include <string.h>

#include "directory/directory_line.h"
#include "lib/str.h"

struct col_def {
	const char *name; /* as published */
	const char *key;  /* normalised: lowercase ASCII, no accents, ' apostrophe */
	bool required;
};

/* Required: what identifies a mailbox and its owner. The rest is shown when present. */
static const struct col_def cols[DCOL_COUNT] = {
    [DCOL_BAL_TYPE] = {"Type de BAL", "type de bal", true},
    [DCOL_ADDRESS] = {"Adresse BAL", "adresse bal", true},
    [DCOL_PP_ID_TYPE] = {"Type Identifiant PP", "type identifiant pp", true},
    [DCOL_PP_ID] = {"Identifiant PP", "identifiant pp", true},
    [DCOL_PP_NATIONAL_ID] = {"Identification nationale PP", "identification nationale pp", false},
    [DCOL_STRUCT_ID_TYPE] = {"Type identifiant structure", "type identifiant structure", true},
    [DCOL_STRUCT_ID] = {"Identification Structure", "identification structure", true},
    [DCOL_SERVICE] = {"Service de rattachement", "service de rattachement", false},
    [DCOL_CIVILITY] = {"Civilité d'exercice", "civilite d'exercice", false},
    [DCOL_LAST_NAME] = {"Nom d'exercice", "nom d'exercice", true},
    [DCOL_FIRST_NAME] = {"Prénom d'exercice", "prenom d'exercice", true},
    [DCOL_PROF_CODE] = {"Code Profession", "code profession", true},
    [DCOL_PROF_LABEL] = {"Libellé Profession", "libelle profession", true},
    [DCOL_SF_CODE] = {"Code savoir-faire", "code savoir-faire", false},
    [DCOL_SF_LABEL] = {"Libellé savoir-faire", "libelle savoir-faire", false},
    [DCOL_STRUCT_NAME] = {"Raison Sociale structure BAL", "raison sociale structure bal", false},
    [DCOL_POSTCODE] = {"Code postal", "code postal", false},
};

const char *dir_col_name(enum dir_col c)
{
	return (unsigned)c < DCOL_COUNT ? cols[c].name : "?";
}

/* Two-byte UTF-8 Latin-1 letters that header names use, folded to ASCII. */
static int fold_latin1(unsigned char b2)
{
	static const char map[64] = "AAAAAAACEEEEIIII"
	                            "DNOOOOOxOUUUUYTs"
	                            "aaaaaaaceeeeiiii"
	                            "dnooooo/ouuuuyty";
	if (b2 < 0x80 || b2 > 0xbf)
		return -1;
	return map[b2 - 0x80];
}

/* Normalises a header name into out: ASCII lowercase, accents dropped, U+2019 and
 * U+2018 as "'", runs of spaces as one, no leading or trailing space. */
static void header_key(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	bool space = false;
	for (size_t i = 0; i < n && o + 2 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		int f = c;
		if (c == 0xc3 && i + 1 < n && fold_latin1((unsigned char)s[i + 1]) > 0) {
			f = fold_latin1((unsigned char)s[++i]);
		} else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		           ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x98)) {
			f = '\'';
			i += 2;
		}
		if (f == ' ' || f == '\t' || f == '_') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = (char)(f >= 'A' && f <= 'Z' ? f - 'A' + 'a' : f);
	}
	out[o] = '\0';
}

static size_t strip_eol(const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	return len;
}

static void header_assign(struct dir_header *h, const char *key, size_t field)
{
	for (int c = 0; c < DCOL_COUNT; c++) {
		if (h->col[c] < 0 && strcmp(cols[c].key, key) == 0) {
			h->col[c] = (int)field;
			return;
		}
	}
}

int dir_header_parse(const char *line, size_t len, struct dir_header *h, char *err, size_t errlen)
{
	len = strip_eol(line, len);
	if (len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	for (int c = 0; c < DCOL_COUNT; c++)
		h->col[c] = -1;
	h->nfields = 0;
	if (!str_is_utf8(line, len)) {
		str_error(err, errlen, "%s", "header line is not UTF-8");
		return -1;
	}
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '|')
			continue;
		char key[128];
		header_key(line + start, i - start, key, sizeof(key));
		header_assign(h, key, h->nfields);
		if (++h->nfields > DIR_MAX_FIELDS) {
			str_error(err, errlen, "%s", "header line has too many columns");
			return -1;
		}
		start = i + 1;
	}
	for (int c = 0; c < DCOL_COUNT; c++) {
		if (cols[c].required && h->col[c] < 0) {
			str_error(err, errlen, "missing column \"%s\"", cols[c].name);
			return -1;
		}
	}
	return 0;
}

struct span {
	const char *p;
	size_t n;
};

/* Splits on '|' into f[]; returns the number of fields, or 0 when over max. */
static size_t split_fields(const char *line, size_t len, struct span *f, size_t max)
{
	size_t nf = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '|')
			continue;
		if (nf == max)
			return 0;
		f[nf].p = line + start;
		f[nf].n = i - start;
		nf++;
		start = i + 1;
	}
	return nf;
}

/* Copies field c (trimmed) into out; an absent column gives "". Returns -1 when too long. */
static int field_copy(const struct dir_header *h, const struct span *f, enum dir_col c, char *out,
                      size_t outlen, char *err, size_t errlen)
{
	out[0] = '\0';
	if (h->col[c] < 0)
		return 0;
	const char *p = f[h->col[c]].p;
	size_t n = f[h->col[c]].n;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n >= outlen) {
		str_error(err, errlen, "column \"%s\" too long", cols[c].name);
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		str_error(err, errlen, "column \"%s\" holds a NUL byte", cols[c].name);
		return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static bool trailing_empty(const struct span *f, size_t from, size_t nf)
{
	for (size_t i = from; i < nf; i++)
		if (f[i].n != 0)
			return false;
	return true;
}

static int copy_fields(const struct dir_header *h, const struct span *f, struct dir_entry *e,
                       struct dir_structure *st, char *err, size_t errlen)
{
	char ppt[DIR_CODE_MAX], sit[DIR_CODE_MAX];
#define F(col, dst) field_copy(h, f, col, dst, sizeof(dst), err, errlen)
	if (F(DCOL_BAL_TYPE, e->bal_type) || F(DCOL_ADDRESS, e->address) || F(DCOL_PP_ID_TYPE, ppt) ||
	    F(DCOL_PP_ID, e->id_value) || F(DCOL_PP_NATIONAL_ID, e->national_id) ||
	    F(DCOL_CIVILITY, e->civility) || F(DCOL_LAST_NAME, e->last_name) ||
	    F(DCOL_FIRST_NAME, e->first_name) || F(DCOL_PROF_CODE, e->profession_code) ||
	    F(DCOL_PROF_LABEL, e->profession_label) || F(DCOL_SF_CODE, e->speciality_code) ||
	    F(DCOL_SF_LABEL, e->speciality_label) || F(DCOL_STRUCT_ID_TYPE, sit) ||
	    F(DCOL_STRUCT_ID, st->id_value) || F(DCOL_STRUCT_NAME, st->name) ||
	    F(DCOL_SERVICE, st->service) || F(DCOL_POSTCODE, st->postcode))
		return -1;
#undef F
	/* code_name returns a map entry or a copy bounded by DIR_CODE_MAX, the size of both */
	str_assert(str_copy(e->id_type, sizeof(e->id_type), dir_pp_id_type_name(ppt)), "DIR_CODE_MAX");
	str_assert(str_copy(st->id_type, sizeof(st->id_type), dir_struct_id_type_name(sit)), "DIR_CODE_MAX");
	return 0;
}

static int check_entry(struct dir_entry *e, char *err, size_t errlen)
{
	str_lower(e->address);
	if (!str_is_address(e->address)) {
		str_error(err, errlen, "%s", "bad mailbox address");
		return -1;
	}
	for (char *p = e->bal_type; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	if (strcmp(e->bal_type, "PER") != 0 && strcmp(e->bal_type, "ORG") != 0 &&
	    strcmp(e->bal_type, "APP") != 0 && strcmp(e->bal_type, "CAB") != 0) {
		str_error(err, errlen, "%s", "unknown BAL type");
		return -1;
	}
	e->active = true;
	return 0;
}

int dir_line_parse(const struct dir_header *h, const char *line, size_t len, struct dir_entry *e,
                   struct dir_structure *st, char *err, size_t errlen)
{
	struct span f[DIR_MAX_FIELDS + 1];
	memset(e, 0, sizeof(*e));
	memset(st, 0, sizeof(*st));
	len = strip_eol(line, len);
	if (len == 0)
		return 1;
	if (!str_is_utf8(line, len)) {
		str_error(err, errlen, "%s", "not UTF-8");
		return -1;
	}
	size_t nf = split_fields(line, len, f, DIR_MAX_FIELDS + 1);
	/* Extra fields are tolerated only when empty (a trailing '|'): anything else means
	 * the columns have shifted and every value would land in the wrong place. */
	if (nf < h->nfields || (nf > h->nfields && !trailing_empty(f, h->nfields, nf))) {
		str_error(err, errlen, "%zu fields, the header has %zu", nf, h->nfields);
		return -1;
	}
	if (copy_fields(h, f, e, st, err, errlen) < 0)
		return -1;
	return check_entry(e, err, errlen);
}

static const char *code_name(const char *code, const char *const map[][2], size_t n)
{
	static char upper[DIR_CODE_MAX];
	for (size_t i = 0; i < n; i++)
		if (str_ieq(code, map[i][0]) || str_ieq(code, map[i][1]))
			return map[i][1];
	size_t k = 0;
	for (; code[k] && k + 1 < sizeof(upper); k++)
		upper[k] = (char)(code[k] >= 'a' && code[k] <= 'z' ? code[k] - 'a' + 'A' : code[k]);
	upper[k] = '\0';
	return upper;
}

const char *dir_pp_id_type_name(const char *code)
{
	static const char *const map[][2] = {{"8", "RPPS"}, {"0", "ADELI"}};
	return code_name(code, map, sizeof(map) / sizeof(map[0]));
}

const char *dir_struct_id_type_name(const char *code)
{
	static const char *const map[][2] = {{"1", "FINESS"}, {"2", "SIREN"}, {"3", "SIRET"}, {"4", "RPPS"}};
	return code_name(code, map, sizeof(map) / sizeof(map[0]));
}

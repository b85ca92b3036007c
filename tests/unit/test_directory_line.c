/* test_directory_line.c: the directory file's header and line parser, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "directory/directory_line.h"

/* The 31 published columns, in the published order. */
#define H31                                                                                                  \
	"Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"            \
	"Type identifiant structure|Identification Structure|Service de rattachement|"                       \
	"Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|"                      \
	"Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|"           \
	"Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|"                            \
	"Complément destinataire|Complément point géographique|Numéro Voie|"                             \
	"Indice répétition voie|Code type de voie|Libellé type de voie|Libellé Voie|"                    \
	"Mention distribution|Bureau cedex|Code postal|Code commune|Pays"
#define L31                                                                                                  \
	"PER|Dr.Martin@Pro.MSS.test|8|10001234567|810001234567|1|750000001||DR|MARTIN|Jean|C|Civil|10|"      \
	"Médecin|SM54|Médecine générale|True|Cabinet Martin||||||||||75001|75101|99100"

static void test_header_31(void **state)
{
	(void)state;
	struct dir_header h;
	char err[128];
	assert_int_equal(dir_header_parse(H31, strlen(H31), &h, err, sizeof err), 0);
	assert_int_equal(h.nfields, 31);
	assert_int_equal(h.col[DCOL_BAL_TYPE], 0);
	assert_int_equal(h.col[DCOL_ADDRESS], 1);
	assert_int_equal(h.col[DCOL_POSTCODE], 28);
	assert_int_equal(h.col[DCOL_CIVILITY], 8);
}

struct header_case {
	const char *header;
	int rc;
	const char *err_has; /* substring of err when refused */
};

static void test_header_table(void **state)
{
	(void)state;
	static const struct header_case cases[] = {
	    /* other order, other case, no accents, typographic apostrophe, BOM, CRLF */
	    {"\xef\xbb\xbf"
	     "adresse bal|TYPE DE BAL|Nom d\xe2\x80\x99"
	     "exercice|Prenom d'exercice|Code Profession|"
	     "Libelle Profession|Identifiant PP|Type Identifiant PP|Identification Structure|"
	     "Type identifiant structure\r",
	     0, NULL},
	    {"Type de BAL|Nom d'exercice|Prénom d'exercice|Code Profession|Libellé Profession|Identifiant PP|"
	     "Type Identifiant PP|Identification Structure|Type identifiant structure",
	     -1, "\"Adresse BAL\""},
	    {"Type de BAL|Adresse BAL", -1, "missing column"},
	    {"", -1, "missing column"},
	    {"Type de BAL|Adresse \xff BAL", -1, "UTF-8"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dir_header h;
		char err[128] = "";
		int rc = dir_header_parse(cases[i].header, strlen(cases[i].header), &h, err, sizeof err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (cases[i].err_has && strstr(err, cases[i].err_has) == NULL)
			fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].err_has);
	}
}

static void test_line_31(void **state)
{
	(void)state;
	struct dir_header h;
	struct dir_entry e;
	struct dir_structure s;
	char err[128];
	assert_int_equal(dir_header_parse(H31, strlen(H31), &h, err, sizeof err), 0);
	assert_int_equal(dir_line_parse(&h, L31, strlen(L31), &e, &s, err, sizeof err), 0);
	assert_string_equal(e.address, "dr.martin@pro.mss.test");
	assert_string_equal(e.bal_type, "PER");
	assert_string_equal(e.id_type, "RPPS");
	assert_string_equal(e.id_value, "10001234567");
	assert_string_equal(e.national_id, "810001234567");
	assert_string_equal(e.last_name, "MARTIN");
	assert_string_equal(e.first_name, "Jean");
	assert_string_equal(e.civility, "DR");
	assert_string_equal(e.profession_code, "10");
	assert_string_equal(e.profession_label, "Médecin");
	assert_string_equal(e.speciality_code, "SM54");
	assert_string_equal(s.id_type, "FINESS");
	assert_string_equal(s.id_value, "750000001");
	assert_string_equal(s.name, "Cabinet Martin");
	assert_string_equal(s.postcode, "75001");
	assert_true(e.active);
}

static void test_line_32_columns(void **state)
{
	(void)state;
	static const char hdr[] = H31 "|Téléphone";
	static const char line[] = L31 "|0102030405";
	struct dir_header h;
	struct dir_entry e;
	struct dir_structure s;
	char err[128];
	assert_int_equal(dir_header_parse(hdr, strlen(hdr), &h, err, sizeof err), 0);
	assert_int_equal(h.nfields, 32);
	assert_int_equal(dir_line_parse(&h, line, strlen(line), &e, &s, err, sizeof err), 0);
	assert_string_equal(s.postcode, "75001");
	/* a 31-field line under a 32-column header has shifted: unreadable */
	assert_int_equal(dir_line_parse(&h, L31, strlen(L31), &e, &s, err, sizeof err), -1);
}

struct line_case {
	const char *line;
	int rc;
	const char *err_has;
};

static void test_line_table(void **state)
{
	(void)state;
	static const struct line_case cases[] = {
	    {L31, 0, NULL},
	    {L31 "\r", 0, NULL}, /* CRLF line end */
	    {L31 "|", 0, NULL},  /* trailing separator */
	    {L31 "||", 0, NULL},
	    {L31 "|x", -1, "fields"}, /* a real extra value: columns shifted */
	    {"", 1, NULL},            /* empty line */
	    {"\r", 1, NULL},
	    {"PER|a@b.c", -1, "fields"},
	    {"PER|dr.\xc3(@pro.mss.test|8|1|81|1|2||DR|A|B|C|C|10|M|S|S|T|R||||||||||7|7|9", -1, "UTF-8"},
	    {"XXX|a@pro.mss.test|8|1|81|1|2||DR|A|B|C|C|10|M|S|S|T|R||||||||||7|7|9", -1, "BAL type"},
	    {"PER|not-an-address|8|1|81|1|2||DR|A|B|C|C|10|M|S|S|T|R||||||||||7|7|9", -1, "address"},
	    {"PER||8|1|81|1|2||DR|A|B|C|C|10|M|S|S|T|R||||||||||7|7|9", -1, "address"},
	    {"org|Pharma@pro.mss.test||||3|12345678900011|||||C|C|21|Pharmacien|||F|Pharmacie||||||||||75002|"
	     "75102|99100",
	     0, NULL},
	    {"PER|a@pro.mss.test|8|123456789012345678901234567890123|81|1|2||DR|A|B|C|C|10|M|S|S|T|R|||||||||"
	     "|7|7|9",
	     -1, "too long"},
	};
	struct dir_header h;
	char err[128];
	assert_int_equal(dir_header_parse(H31, strlen(H31), &h, err, sizeof err), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dir_entry e;
		struct dir_structure s;
		err[0] = '\0';
		int rc = dir_line_parse(&h, cases[i].line, strlen(cases[i].line), &e, &s, err, sizeof err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (cases[i].err_has && strstr(err, cases[i].err_has) == NULL)
			fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].err_has);
	}
}

static void test_reordered_columns(void **state)
{
	(void)state;
	static const char hdr[] =
	    "Nom d'exercice|Prénom d'exercice|Adresse BAL|Type de BAL|Code Profession|"
	    "Libellé Profession|Identifiant PP|Type Identifiant PP|Identification Structure|"
	    "Type identifiant structure";
	static const char line[] = "DURAND|Anne|dr.durand@pro.mss.test|PER|10|Médecin|10009876543|0|123|3";
	struct dir_header h;
	struct dir_entry e;
	struct dir_structure s;
	char err[128];
	assert_int_equal(dir_header_parse(hdr, strlen(hdr), &h, err, sizeof err), 0);
	assert_int_equal(h.col[DCOL_CIVILITY], -1);
	assert_int_equal(dir_line_parse(&h, line, strlen(line), &e, &s, err, sizeof err), 0);
	assert_string_equal(e.address, "dr.durand@pro.mss.test");
	assert_string_equal(e.last_name, "DURAND");
	assert_string_equal(e.id_type, "ADELI");
	assert_string_equal(s.id_type, "SIRET");
	assert_string_equal(e.civility, "");
}

static void test_id_type_names(void **state)
{
	(void)state;
	assert_string_equal(dir_pp_id_type_name("8"), "RPPS");
	assert_string_equal(dir_pp_id_type_name("0"), "ADELI");
	assert_string_equal(dir_pp_id_type_name("rpps"), "RPPS");
	assert_string_equal(dir_pp_id_type_name(""), "");
	assert_string_equal(dir_struct_id_type_name("1"), "FINESS");
	assert_string_equal(dir_struct_id_type_name("3"), "SIRET");
	assert_string_equal(dir_struct_id_type_name("9"), "9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_31),     cmocka_unit_test(test_header_table),
	    cmocka_unit_test(test_line_31),       cmocka_unit_test(test_line_32_columns),
	    cmocka_unit_test(test_line_table),    cmocka_unit_test(test_reordered_columns),
	    cmocka_unit_test(test_id_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_directory_import.c: importing small hand-written directory files and trust lists
 * into a real database: counts, reimport, one transaction, strict mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "directory/directory_entry.h"
#include "directory/directory_import.h"
#include "directory/schema.h"
#include "directory/trust.h"
#include "lib/buf.h"
#include "test_db_util.h"

#define HDR                                                                                                  \
	"Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"            \
	"Type identifiant structure|Identification Structure|Service de rattachement|"                       \
	"Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Code Profession|Libellé Profession|"        \
	"Code savoir-faire|Libellé savoir-faire|Raison Sociale structure BAL|Code postal\n"

struct fixture {
	struct test_data t;
	char file[400];
	struct store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const struct sql_schema *parts[] = {&directory_schema, &directory_entries_schema};
	if (test_data_init(&f->t, "mss-test-dir") != 0 || test_data_open(&f->t, parts, 2) != 0)
		return -1;
	f->st = f->t.st;
	snprintf(f->file, sizeof f->file, "%s/input", f->t.dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	test_data_close(&f->t);
	free(f);
	return 0;
}

static void write_file(struct fixture *f, const char *content, size_t len)
{
	FILE *fp = fopen(f->file, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(content, 1, len, fp), len);
	fclose(fp);
}

static int import_str(struct fixture *f, const char *content, bool strict, struct dir_import_result *r)
{
	write_file(f, content, strlen(content));
	char err[256] = "";
	int rc = directory_import(f->st, f->file, strict, r, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "import: %s\n", err);
	return rc;
}

static int count_structures(const struct dir_structure *s, void *arg)
{
	(void)s;
	(*(int *)arg)++;
	return 0;
}

static void test_import_and_reimport(void **state)
{
	struct fixture *f = *state;
	struct dir_import_result r;
	static const char v1[] =
	    HDR "PER|dr.martin@pro.mss.test|8|10001|810001|1|750000001||DR|MARTIN|Jean|10|Médecin|SM54|MG|"
	        "Clinique A|75001\n"
	        "PER|dr.martin@pro.mss.test|8|10001|810001|1|750000002||DR|MARTIN|Jean|10|Médecin|SM54|MG|"
	        "Clinique B|75002\n"
	        "PER|dr.martin@pro.mss.test|8|10001|810001|1|750000001||DR|MARTIN|Jean|10|Médecin|SM54|MG|"
	        "Clinique A|75001\n"
	        "\n"
	        "ORG|pharma@pro.mss.test||||3|123|||Pharmacie||21|Pharmacien|||Pharmacie du coin|75003\r\n"
	        "PER|gone@pro.mss.test|8|10002|810002|||||GONE|Paul|10|Médecin||||\n";
	assert_int_equal(import_str(f, v1, false, &r), 0);
	assert_int_equal(r.lines, 6);
	assert_int_equal(r.imported, 5);
	assert_int_equal(r.empty, 1);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.added, 3);
	assert_int_equal(r.changed, 0);
	assert_int_equal(r.removed, 0);
	assert_int_equal(r.addresses, 3);
	int n = 0;
	assert_int_equal(dir_structure_foreach(f->st, "DR.MARTIN@pro.mss.test", count_structures, &n), 2);
	assert_int_equal(dir_entry_is_pharmacy(f->st, "pharma@pro.mss.test", "21"), 1);
	assert_int_equal(dir_entry_is_pharmacy(f->st, "pharma@pro.mss.test", "22, 23"), 0);
	assert_int_equal(dir_entry_is_pharmacy(f->st, "dr.martin@pro.mss.test", "10"), 0);

	/* same file again: nothing changes */
	assert_int_equal(import_str(f, v1, false, &r), 0);
	assert_int_equal(r.added + r.changed + r.removed, 0);

	/* martin loses a structure, pharma renamed, gone removed, new added */
	static const char v2[] =
	    HDR "PER|dr.martin@pro.mss.test|8|10001|810001|1|750000001||DR|MARTIN|Jean|10|Médecin|SM54|MG|"
	        "Clinique A|75001\n"
	        "ORG|pharma@pro.mss.test||||3|123|||Pharmacie||21|Pharmacien|||Pharmacie du parc|75003\n"
	        "PER|new@pro.mss.test|8|10003|810003|||||NEW|Eve|60|Infirmier||||\n";
	assert_int_equal(import_str(f, v2, false, &r), 0);
	assert_int_equal(r.added, 1);
	assert_int_equal(r.changed, 2);
	assert_int_equal(r.removed, 1);
	struct dir_entry e;
	assert_int_equal(dir_entry_get(f->st, "gone@pro.mss.test", &e), 0);
	assert_int_equal(dir_entry_get(f->st, "new@pro.mss.test", &e), 1);
	assert_string_equal(e.profession_label, "Infirmier");
}

static void test_import_refused_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct dir_import_result r;
	static const char good[] = HDR "PER|dr.martin@pro.mss.test|8|10001|810001|1|750000001||DR|MARTIN|"
	                               "Jean|10|Médecin|SM54|MG|A|75001\n";
	assert_int_equal(import_str(f, good, false, &r), 0);
	/* missing column: refused, naming it */
	static const char nocol[] = "Type de BAL|Adresse BAL\nPER|x@pro.mss.test\n";
	write_file(f, nocol, strlen(nocol));
	char err[256] = "";
	assert_int_equal(directory_import(f->st, f->file, false, &r, err, sizeof err), 1);
	assert_non_null(strstr(err, "missing column"));
	assert_int_equal(dir_entry_count(f->st), 1);
	/* strict with one bad line: refused, nothing changed */
	static const char onebad[] = HDR "PER|other@pro.mss.test|8|10009|810009|||||O|P|10|Médecin||||\n"
	                                 "PER|bad\xff@pro.mss.test|8|1|8||||||A|B|10|M||||\n";
	write_file(f, onebad, strlen(onebad));
	assert_int_equal(directory_import(f->st, f->file, true, &r, err, sizeof err), 1);
	assert_int_equal(r.bad, 1);
	assert_int_equal(r.bad_lines[0].line, 3);
	struct dir_entry e;
	assert_int_equal(dir_entry_get(f->st, "other@pro.mss.test", &e), 0);
	assert_int_equal(dir_entry_get(f->st, "dr.martin@pro.mss.test", &e), 1);
	/* not strict: the good line goes in, the bad one is reported */
	assert_int_equal(directory_import(f->st, f->file, false, &r, err, sizeof err), 0);
	assert_int_equal(r.bad, 1);
	assert_int_equal(r.added, 1);
	assert_int_equal(r.removed, 1);
	/* a missing file */
	assert_int_equal(directory_import(f->st, "/nonexistent/file", false, &r, err, sizeof err), 1);
	/* an empty file */
	write_file(f, "", 0);
	assert_int_equal(directory_import(f->st, f->file, false, &r, err, sizeof err), 1);
	assert_int_equal(dir_entry_count(f->st), 1);
}

static void test_import_bad_lines_reported(void **state)
{
	struct fixture *f = *state;
	struct dir_import_result r;
	char content[8192];
	size_t n = (size_t)snprintf(content, sizeof content, "%s", HDR);
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(content + n, sizeof content - n, "PER|broken-%d\n", i);
	n += (size_t)snprintf(content + n, sizeof content - n, "PER|ok@pro.mss.test|8|1|81|||||A|B|10|M||||");
	assert_int_equal(import_str(f, content, false, &r), 0);
	assert_int_equal(r.bad, 12);
	assert_int_equal(r.nbad_kept, 10);
	assert_int_equal(r.bad_lines[0].line, 2);
	assert_int_equal(r.bad_lines[9].line, 11);
	assert_int_equal(r.imported, 1); /* the last line had no newline */
}

static void test_import_long_line(void **state)
{
	struct fixture *f = *state;
	struct dir_import_result r;
	size_t big = 100000;
	char *content = malloc(big + 512);
	size_t n = (size_t)snprintf(content, 512, "%s", HDR);
	memset(content + n, 'x', big);
	n += big;
	n += (size_t)snprintf(content + n, 400, "\nPER|ok@pro.mss.test|8|1|81|||||A|B|10|M||||\n");
	write_file(f, content, n);
	free(content);
	char err[256];
	assert_int_equal(directory_import(f->st, f->file, false, &r, err, sizeof err), 0);
	assert_int_equal(r.bad, 1);
	assert_string_equal(r.bad_lines[0].why, "line too long");
	assert_int_equal(r.imported, 1);
}

static int count_entries(const struct dir_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* One address on 1,200 lines with different structures: memory stays capped (1,000
 * structures kept), the rest reported, the import goes on. */
static void test_import_many_structures_capped(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(buf_append_str(&b, HDR), 0);
	for (int i = 0; i < 1200; i++)
		assert_int_equal(
		    buf_printf(&b, "PER|many@pro.mss.test|8|1|81|1|%d||DR|A|B|10|M||||75001\n", i), 0);
	assert_int_equal(buf_append_str(&b, "PER|other@pro.mss.test|8|2|82|||||C|D|10|M||||\n"), 0);
	struct dir_import_result r;
	assert_int_equal(import_str(f, b.data, false, &r), 0);
	buf_free(&b);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.bad, 200);
	assert_string_equal(r.bad_lines[0].why, "too many structures for one address");
	int n = 0;
	assert_int_equal(dir_structure_foreach(f->st, "many@pro.mss.test", count_structures, &n), 1000);
	n = 0;
	assert_int_equal(dir_entry_search(f->st, "OTHER@", 10, count_entries, &n), 1);
	n = 0;
	assert_int_equal(dir_entry_search(f->st, "pro.mss.test", 1, count_entries, &n), 1);
	n = 0;
	assert_int_equal(dir_entry_search(f->st, "%", 10, count_entries, &n), 0);
}

static void test_trust_import(void **state)
{
	struct fixture *f = *state;
	static const char xml[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\"><ListeDomaines>\n"
	    "<Domaine><Nom>other-operator.test</Nom><Description>d</Description>"
	    "<DNCertificatOperateur>CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
	    "</DNCertificatOperateur><DateMAJ>2024-01-01</DateMAJ></Domaine>\n"
	    "<Domaine><Nom>other-operator.test</Nom>"
	    "<DNCertificatOperateur>CN=mx2.other-operator.test,O=Other "
	    "Operator,C=FR</DNCertificatOperateur></Domaine>\n"
	    "<Domaine><Nom>third.test</Nom>"
	    "<DNCertificatOperateur>CN=mx.third.test,C=FR</DNCertificatOperateur></Domaine>\n"
	    "</ListeDomaines></ListeBlancheMSSante>\n";
	write_file(f, xml, strlen(xml));
	struct trust_import_result r;
	char err[256] = "";
	assert_int_equal(trust_import(f->st, f->file, &r, err, sizeof err), 0);
	assert_int_equal(r.entries, 3);
	assert_int_equal(r.domains, 2);
	assert_int_equal(r.added, 3);
	assert_int_equal(
	    trust_is_listed(f->st, "Other-Operator.test",
	                    "cn=mx.other-operator.test, ou=12345678900011, o=other operator, c=FR"),
	    1);
	assert_int_equal(
	    trust_is_listed(f->st, "other-operator.test",
	                    "C=FR, O=Other Operator, OU=12345678900011, CN=mx.other-operator.test"),
	    1);
	assert_int_equal(
	    trust_is_listed(f->st, "other-operator.test",
	                    "/C=FR/O=Other Operator/OU=12345678900011/CN=mx.other-operator.test"),
	    1);
	assert_int_equal(
	    trust_is_listed(f->st, "third.test", "CN=mx.other-operator.test,O=Other Operator,C=FR"), 0);
	assert_int_equal(
	    trust_is_listed(f->st, "other-operator.test", "CN=mx.evil.test,O=Other Operator,C=FR"), 0);
	assert_int_equal(trust_domain_known(f->st, "THIRD.test"), 1);
	assert_int_equal(trust_domain_known(f->st, "fourth.test"), 0);
	/* a malformed list changes nothing */
	write_file(f, "<ListeBlancheMSSante", 20);
	assert_int_equal(trust_import(f->st, f->file, &r, err, sizeof err), 1);
	assert_int_equal(trust_domain_known(f->st, "third.test"), 1);
	/* reimport without third.test */
	static const char xml2[] =
	    "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\"><ListeDomaines>"
	    "<Domaine><Nom>other-operator.test</Nom>"
	    "<DNCertificatOperateur>CN=mx2.other-operator.test,O=Other "
	    "Operator,C=FR</DNCertificatOperateur></Domaine>"
	    "</ListeDomaines></ListeBlancheMSSante>";
	write_file(f, xml2, strlen(xml2));
	assert_int_equal(trust_import(f->st, f->file, &r, err, sizeof err), 0);
	assert_int_equal(r.added, 0);
	assert_int_equal(r.removed, 2);
	assert_int_equal(trust_domain_known(f->st, "third.test"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_import_and_reimport, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_refused_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_bad_lines_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_long_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_many_structures_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trust_import, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

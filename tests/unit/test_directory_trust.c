/* test_directory_trust.c: DN comparison by RDN components and the trust list parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "directory/dn.h"
#include "directory/trust.h"
#include "lib/buf.h"
#include "lib/str.h"

struct dn_case {
	const char *a, *b;
	bool equal;
};

static void test_dn_equal_table(void **state)
{
	(void)state;
	static const struct dn_case cases[] = {
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "CN=mx.example.fr,OU=123,O=Op,C=FR", true},
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "cn=MX.Example.FR, ou=123, o=op, c=fr", true},
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "2.5.4.3=mx.example.fr,OU=123,2.5.4.10=Op,countryName=FR",
	     true},
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "OID.2.5.4.3=mx.example.fr;OU=123;O=Op;C=FR", true},
	    {"CN=a,O=Big  Op ,C=FR", "CN=a,O=big op,C=FR", true}, /* insignificant spaces */
	    {"CN=a\\,b,O=x", "CN=a\\2Cb,O=x", true},              /* escapes */
	    {"CN=a\\,b,O=x", "CN=a,CN=b,O=x", false},             /* escaped comma is not a separator */
	    {"CN=a+UID=7,O=x", "UID=7+CN=a,O=x", true},           /* multi-valued RDN: unordered */
	    {"CN=a+UID=7,O=x", "CN=a,UID=7,O=x", false},          /* ... but not the same as two RDNs */
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "CN=mx.example.fr,OU=124,O=Op,C=FR", false},
	    {"CN=mx.example.fr,OU=123,O=Op,C=FR", "CN=mx.example.fr,OU=123,O=Op", false},
	    {"CN=mx.example.fr,O=Op,C=FR", "C=FR,O=Op,CN=mx.example.fr", false}, /* order counts */
	    {"CN=mx.example.fr,O=Op,C=FR", "/C=FR/O=Op/CN=mx.example.fr", true}, /* OpenSSL oneline */
	    {"CN=x,O=Op", "CN=x,O=Op\\", false}, /* dangling escape: invalid */
	    {"CN=x,O=Op", "CN=x,,O=Op", false},
	    {"", "", false},
	    {"CN=#0403616263", "cn=#0403616263", true},
	    {"CN=\xc3\xa9", "CN=\\c3\\a9", true}, /* UTF-8 by hex pairs */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (dn_equal(cases[i].a, cases[i].b) != cases[i].equal)
			fail_msg("case %zu: \"%s\" vs \"%s\": want %s", i, cases[i].a, cases[i].b,
			         cases[i].equal ? "equal" : "different");
	}
}

static void test_dn_reversed_key(void **state)
{
	(void)state;
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX], err[64];
	assert_int_equal(dn_canonical("CN=a,O=b,C=FR", true, k1, sizeof k1, err, sizeof err), 0);
	assert_int_equal(dn_canonical("C=FR,O=b,CN=a", false, k2, sizeof k2, err, sizeof err), 0);
	assert_string_equal(k1, k2);
	assert_int_equal(dn_canonical("CN", false, k1, sizeof k1, err, sizeof err), -1);
}

struct collected {
	int n;
	char domains[8][256];
	char dns[8][1024];
};

static int collect(const struct trust_entry *e, void *arg)
{
	struct collected *c = arg;
	if (c->n < 8) {
		assert_int_equal(str_copy(c->domains[c->n], sizeof c->domains[0], e->domain), 0);
		assert_int_equal(str_copy(c->dns[c->n], sizeof c->dns[0], e->dn), 0);
	}
	c->n++;
	return 0;
}

#define NS "https://listeblanche.mssante.fr/schema"

static void test_trust_several_dns(void **state)
{
	(void)state;
	static const char xml[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListeBlancheMSSante xmlns=\"" NS "\">\n"
	    " <ListeDomaines>\n"
	    "  <Domaine><Nom>Other-Operator.test</Nom><Description>Other</Description>\n"
	    "   <DNCertificatOperateur>CN=mx.other-operator.test,OU=12345678900011,O=Other "
	    "Operator,C=FR</DNCertificatOperateur>\n"
	    "   <DNCertificatOperateur>CN=mx2.other-operator.test,O=Other "
	    "Operator,C=FR</DNCertificatOperateur>\n"
	    "   <DateMAJ>2024-01-01</DateMAJ></Domaine>\n"
	    "  <Domaine><Nom>other-operator.test</Nom><DNCertificatOperateur>CN=mx3.other-operator.test,C=FR"
	    "</DNCertificatOperateur></Domaine>\n"
	    " </ListeDomaines>\n"
	    " <ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X>1</ds:X></ds:Signature>\n"
	    "</ListeBlancheMSSante>\n";
	struct collected c = {0};
	char err[256] = "";
	int rc = trust_xml_parse(xml, strlen(xml), collect, &c, err, sizeof err);
	if (rc != 0)
		fail_msg("parse: %s", err);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.domains[0], "other-operator.test");
	assert_string_equal(c.dns[1], "CN=mx2.other-operator.test,O=Other Operator,C=FR");
	assert_string_equal(c.domains[2], "other-operator.test");
}

struct xml_case {
	const char *xml;
	const char *err_has;
};

static void test_trust_refusals(void **state)
{
	(void)state;
	static const struct xml_case cases[] = {
	    {"<ListeBlancheMSSante "
	     "xmlns=\"https://example.invalid/other\"><ListeDomaines/></ListeBlancheMSSante>",
	     "namespace"},
	    {"<ListeBlancheMSSante><ListeDomaines/></ListeBlancheMSSante>", "namespace"},
	    {"<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine><Nom>a.fr</Nom>"
	     "</ListeDomaines></ListeBlancheMSSante>",
	     "line"},
	    {"<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine><DNCertificatOperateur>CN=a"
	     "</DNCertificatOperateur></Domaine></ListeDomaines></ListeBlancheMSSante>",
	     "without Nom"},
	    {"<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine><Nom>a.fr</Nom></Domaine>"
	     "</ListeDomaines></ListeBlancheMSSante>",
	     "without DNCertificatOperateur"},
	    {"<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine><Nom>a b.fr</Nom>"
	     "<DNCertificatOperateur>CN=a</DNCertificatOperateur></Domaine></ListeDomaines></"
	     "ListeBlancheMSSante>",
	     "bad domain"},
	    {"<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines><Domaine><Nom>a.fr</Nom>"
	     "<DNCertificatOperateur>garbage</DNCertificatOperateur></Domaine></ListeDomaines></"
	     "ListeBlancheMSSante>",
	     "bad DNCertificatOperateur"},
	    {"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"x\">]><ListeBlancheMSSante xmlns=\"" NS "\"/>",
	     "DOCTYPE"},
	    {"<?xml version=\"1.0\"?><!DOCTYPE l SYSTEM "
	     "\"http://example.invalid/x.dtd\"><ListeBlancheMSSante/>",
	     "DOCTYPE"},
	    {"", "line"},
	    {"not xml at all", "line"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct collected c = {0};
		char err[256] = "";
		int rc = trust_xml_parse(cases[i].xml, strlen(cases[i].xml), collect, &c, err, sizeof err);
		if (rc != -1 || strstr(err, cases[i].err_has) == NULL)
			fail_msg("case %zu: rc %d err \"%s\", want -1 with \"%s\"", i, rc, err,
			         cases[i].err_has);
	}
}

/* Billion laughs: ten levels of ten references; must be refused before any expansion. */
static void test_trust_billion_laughs(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(
	    buf_append_str(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"), 0);
	for (int i = 1; i <= 9; i++) {
		assert_int_equal(buf_printf(&b, " <!ENTITY lol%d \"", i), 0);
		for (int j = 0; j < 10; j++)
			assert_int_equal(
			    buf_printf(&b, "&lol%s;", i == 1 ? "" : (char[]){(char)('0' + i - 1), 0}), 0);
		assert_int_equal(buf_append_str(&b, "\">\n"), 0);
	}
	assert_int_equal(buf_append_str(&b, "]>\n<ListeBlancheMSSante xmlns=\"" NS
	                                    "\"><ListeDomaines><Domaine><Nom>&lol9;</Nom>"
	                                    "</Domaine></ListeDomaines></ListeBlancheMSSante>\n"),
	                 0);
	struct collected c = {0};
	char err[256] = "";
	clock_t t0 = clock();
	int rc = trust_xml_parse(b.data, b.len, collect, &c, err, sizeof err);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	buf_free(&b);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "DOCTYPE"));
	assert_int_equal(c.n, 0);
	assert_true(secs < 0.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dn_equal_table),       cmocka_unit_test(test_dn_reversed_key),
	    cmocka_unit_test(test_trust_several_dns),    cmocka_unit_test(test_trust_refusals),
	    cmocka_unit_test(test_trust_billion_laughs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

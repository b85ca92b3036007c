/* Unit tests: lib/tls_dn.c (OpenSSL's RFC 2253 text without OpenSSL) against OpenSSL
 * itself: names built with OpenSSL, printed by X509_NAME_print_ex(XN_FLAG_RFC2253)
 * and by tls_dn_format from the same attributes; the two must be the same string. The
 * GnuTLS backend's subject_dn is tls_dn_format of what GnuTLS reads, so the trust list
 * compares the same text whichever backend runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "lib/tls_dn.h"

/* One attribute: type (OID text), ASN.1 string type (V_ASN1_*), bytes, and whether it
 * joins the previous attribute's RDN. */
struct attr {
	const char *oid;
	int type;
	const char *value;
	size_t len; /* 0: strlen(value) */
	int join;
};

struct name_case {
	const char *what;
	struct attr attrs[8];
};

static const struct name_case cases[] = {
    {"plain",
     {{"2.5.4.6", V_ASN1_PRINTABLESTRING, "FR", 0, 0},
      {"2.5.4.10", V_ASN1_UTF8STRING, "MSS Test", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "Dr Martin", 0, 0}}},
    {"operator",
     {{"2.5.4.6", V_ASN1_PRINTABLESTRING, "FR", 0, 0},
      {"2.5.4.10", V_ASN1_UTF8STRING, "Other Operator", 0, 0},
      {"2.5.4.11", V_ASN1_UTF8STRING, "12345678900011", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "mx.other-operator.test", 0, 0}}},
    {"escapes",
     {{"2.5.4.10", V_ASN1_UTF8STRING, "Soins, Paris; \"Centre\" <Nord>+a\\b=c", 0, 0},
      {"2.5.4.11", V_ASN1_UTF8STRING, "#1 Service", 0, 0},
      {"2.5.4.11", V_ASN1_UTF8STRING, " padded ", 0, 0},
      {"2.5.4.11", V_ASN1_UTF8STRING, "mid#dle", 0, 0}}},
    {"edges",
     {{"2.5.4.3", V_ASN1_UTF8STRING, " ", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "#", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "# ", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "a\x01\x7f", 0, 0}}},
    {"utf8",
     {{"2.5.4.8", V_ASN1_UTF8STRING, "\xc3\x8ele-de-France", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "Dr \xc3\x89lise \xe2\x82\xac", 0, 0}}},
    {"multi-valued",
     {{"2.5.4.6", V_ASN1_PRINTABLESTRING, "FR", 0, 0},
      {"2.5.4.3", V_ASN1_UTF8STRING, "Dr Elise", 0, 0},
      {"0.9.2342.19200300.100.1.1", V_ASN1_UTF8STRING, "42", 0, 1},
      {"1.2.840.113549.1.9.1", V_ASN1_IA5STRING, "elise@pro.mss.test", 0, 0}}},
    {"string types",
     {{"2.5.4.3", V_ASN1_T61STRING, "caf\xe9", 0, 0},
      {"2.5.4.3", V_ASN1_BMPSTRING, "\x00\xc9\x20\xac\x00,", 6, 0},
      {"2.5.4.3", V_ASN1_UNIVERSALSTRING, "\x00\x01\xf6\x00\x00\x00\x00 ", 8, 0},
      {"2.5.4.5", V_ASN1_PRINTABLESTRING, "123 456", 0, 0},
      {"2.5.4.3", V_ASN1_IA5STRING, "x\xe9y", 0, 0}}},
    {"unknown type and oid",
     {{"1.3.6.1.4.1.99999.1", V_ASN1_UTF8STRING, "hello", 0, 0},
      {"2.5.4.97", V_ASN1_UTF8STRING, "VATFR-123", 0, 0},
      {"1.3.6.1.4.1.311.60.2.1.3", V_ASN1_PRINTABLESTRING, "FR", 0, 0}}},
};

static X509_NAME *build(const struct name_case *c)
{
	X509_NAME *n = X509_NAME_new();

	for (size_t i = 0; i < 8 && c->attrs[i].oid; i++) {
		const struct attr *a = &c->attrs[i];
		ASN1_OBJECT *obj = OBJ_txt2obj(a->oid, 1);
		size_t len = a->len ? a->len : strlen(a->value);
		ASN1_STRING *s = ASN1_STRING_type_new(a->type);
		X509_NAME_ENTRY *e;

		assert_non_null(obj);
		assert_int_equal(ASN1_STRING_set(s, a->value, (int)len), 1);
		e = X509_NAME_ENTRY_create_by_OBJ(NULL, obj, a->type, (const unsigned char *)"", 0);
		assert_non_null(e);
		assert_int_equal(X509_NAME_ENTRY_set_data(e, a->type, ASN1_STRING_get0_data(s), (int)len), 1);
		if (X509_NAME_add_entry(n, e, -1, a->join ? -1 : 0) != 1)
			fail_msg("%s: attribute %zu not added", c->what, i);
		X509_NAME_ENTRY_free(e);
		ASN1_STRING_free(s);
		ASN1_OBJECT_free(obj);
	}
	return n;
}

/* What OpenSSL prints ("" when it cannot print the name). */
static void openssl_text(X509_NAME *n, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	out[0] = '\0';
	if (X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len >= 0 && (size_t)len < outlen) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(bio);
}

/* The attributes in DER order, as a DER reader (GnuTLS) hands them over. */
static void ours(X509_NAME *n, char *out, size_t outlen)
{
	struct tls_dn_ava avas[8];
	char oids[8][80];
	int cnt = X509_NAME_entry_count(n);

	for (int i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);

		OBJ_obj2txt(oids[i], sizeof(oids[i]), X509_NAME_ENTRY_get_object(e), 1);
		avas[i] = (struct tls_dn_ava){.oid = oids[i],
		                              .tag = (unsigned)ASN1_STRING_type(v),
		                              .value = ASN1_STRING_get0_data(v),
		                              .len = (size_t)ASN1_STRING_length(v),
		                              .rdn = (unsigned)X509_NAME_ENTRY_set(e)};
	}
	(void)tls_dn_format(avas, (size_t)cnt, out, outlen);
}

static void test_same_text_as_openssl(void **state)
{
	char want[1024], got[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = build(&cases[i]);
		unsigned char *der = NULL;
		int derlen = i2d_X509_NAME(n, &der);
		const unsigned char *p = der;
		X509_NAME *back = d2i_X509_NAME(NULL, &p, derlen);

		/* Through DER and back: the order is the encoding's (SET OF sorted). */
		assert_non_null(back);
		openssl_text(back, want, sizeof(want));
		ours(back, got, sizeof(got));
		if (strcmp(want, got) != 0)
			fail_msg("%s:\n openssl: [%s]\n tls_dn:  [%s]", cases[i].what, want, got);
		X509_NAME_free(back);
		X509_NAME_free(n);
		OPENSSL_free(der);
	}
}

static void test_too_long_is_empty(void **state)
{
	struct tls_dn_ava a = {.oid = "2.5.4.3", .tag = 12, .value = (const uint8_t *)"abcdef", .len = 6};
	char out[16];

	(void)state;
	assert_int_equal(tls_dn_format(&a, 1, out, 8), -1);
	assert_string_equal(out, "");
	assert_int_equal(tls_dn_format(&a, 1, out, 10), 0);
	assert_string_equal(out, "CN=abcdef");
}

/* Every short name of the table is OpenSSL's for that OID. */
static void test_short_names_are_openssl_names(void **state)
{
	static const char *oids[] = {"2.5.4.3",
	                             "2.5.4.6",
	                             "2.5.4.10",
	                             "2.5.4.11",
	                             "2.5.4.5",
	                             "2.5.4.97",
	                             "1.2.840.113549.1.9.1",
	                             "0.9.2342.19200300.100.1.1",
	                             "0.9.2342.19200300.100.1.25",
	                             "1.3.6.1.4.1.311.60.2.1.3"};
	char oid[80];

	(void)state;
	for (size_t i = 0; i < sizeof(oids) / sizeof(oids[0]); i++)
		assert_string_equal(tls_dn_short_name(oids[i]), OBJ_nid2sn(OBJ_txt2nid(oids[i])));
	/* And the whole table: each OID it names is known to OpenSSL by that name. */
	for (int nid = 1; nid < 1300; nid++) {
		const char *sn = OBJ_nid2sn(nid);
		const char *ours_sn;

		if (!sn || OBJ_obj2txt(oid, sizeof(oid), OBJ_nid2obj(nid), 1) <= 0)
			continue;
		ours_sn = tls_dn_short_name(oid);
		if (ours_sn && strcmp(ours_sn, sn) != 0)
			fail_msg("%s: table says %s, OpenSSL %s", oid, ours_sn, sn);
	}
	assert_null(tls_dn_short_name("1.3.6.1.4.1.99999.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_text_as_openssl),
	    cmocka_unit_test(test_too_long_is_empty),
	    cmocka_unit_test(test_short_names_are_openssl_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

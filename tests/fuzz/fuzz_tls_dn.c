/* fuzz-libs: lib */
/* fuzz_tls_dn: lib/tls_dn.c, the GnuTLS backend's text of a certificate's subject and
 * issuer, differentially against OpenSSL. The trust list compares these strings
 * (directory/dn.c), so both backends must give the same text for the same name, byte
 * for byte: the input is turned into a name (attribute types known and unknown, every
 * string type, single and multi-valued RDNs, arbitrary value bytes), encoded to DER and
 * read back by OpenSSL (so the order and the values are what a DER reader hands over);
 * then X509_NAME_print_ex(XN_FLAG_RFC2253) and tls_dn_format must agree. tls_dn_format
 * may give up (-1, an empty identity that matches nothing) only where OpenSSL prints
 * nothing usable either, or the text does not fit the 512 bytes of tls_peer.
 *
 * Input: records of 4 header bytes (attribute type, string type, "joins the previous
 * RDN" in the low bit, value length) then the value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "lib/tls_dn.h"

#define MAX_AVAS 8
#define OUT_MAX 512 /* sizeof(tls_peer.subject_dn) */

static const char *const oids[] = {
    "2.5.4.3",
    "2.5.4.6",
    "2.5.4.10",
    "2.5.4.11",
    "2.5.4.5",
    "1.2.840.113549.1.9.1",
    "0.9.2342.19200300.100.1.1",
    "2.5.4.97",
    "2.5.4.100",
    "2.5.4.65",
    "0.9.2342.19200300.100.1.25",
    "1.3.6.1.4.1.311.60.2.1.3",
    "1.3.6.1.4.1.99999.1",
    "1.2.3.4",
};
/* The string types a name's attribute can carry (X.520 DirectoryString and friends). */
static const int types[] = {V_ASN1_UTF8STRING,    V_ASN1_PRINTABLESTRING, V_ASN1_T61STRING,
                            V_ASN1_IA5STRING,     V_ASN1_BMPSTRING,       V_ASN1_UNIVERSALSTRING,
                            V_ASN1_NUMERICSTRING, V_ASN1_VISIBLESTRING};

static X509_NAME *build(const uint8_t *data, size_t size)
{
	X509_NAME *n = X509_NAME_new();
	size_t count = 0;

	while (n && size >= 4 && count < MAX_AVAS) {
		const char *oid = oids[data[0] % (sizeof(oids) / sizeof(oids[0]))];
		int type = types[data[1] % (sizeof(types) / sizeof(types[0]))];
		int join = data[2] & 1;
		size_t len = data[3];
		ASN1_OBJECT *obj;
		X509_NAME_ENTRY *e;

		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		obj = OBJ_txt2obj(oid, 1);
		e = obj ? X509_NAME_ENTRY_create_by_OBJ(NULL, obj, type, (const unsigned char *)"", 0) : NULL;
		if (e && X509_NAME_ENTRY_set_data(e, type, data, (int)len) == 1)
			(void)X509_NAME_add_entry(n, e, -1, count > 0 && join ? -1 : 0);
		X509_NAME_ENTRY_free(e);
		ASN1_OBJECT_free(obj);
		data += len;
		size -= len;
		count++;
	}
	return n;
}

/* OpenSSL's text; false when it prints nothing usable. */
static int openssl_text(X509_NAME *n, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int ok = 0;

	out[0] = '\0';
	if (bio && X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len >= 0 && (size_t)len < outlen) {
			if (len > 0)
				memcpy(out, data, (size_t)len);
			out[len] = '\0';
			ok = 1;
		}
	}
	BIO_free(bio);
	return ok;
}

/* tls_dn_format on the attributes in DER order, as tls_gnutls_peer.c gives them. */
static int ours(X509_NAME *n, char *out, size_t outlen)
{
	struct tls_dn_ava avas[MAX_AVAS];
	char oidtext[MAX_AVAS][80];
	int cnt = X509_NAME_entry_count(n);

	for (int i = 0; i < cnt && i < MAX_AVAS; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);

		OBJ_obj2txt(oidtext[i], sizeof(oidtext[i]), X509_NAME_ENTRY_get_object(e), 1);
		avas[i] = (struct tls_dn_ava){.oid = oidtext[i],
		                              .tag = (unsigned)ASN1_STRING_type(v),
		                              .value = ASN1_STRING_get0_data(v),
		                              .len = (size_t)ASN1_STRING_length(v),
		                              .rdn = (unsigned)X509_NAME_ENTRY_set(e)};
	}
	return tls_dn_format(avas, (size_t)(cnt < MAX_AVAS ? cnt : MAX_AVAS), out, outlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_NAME *n = build(data, size), *back = NULL;
	unsigned char *der = NULL;
	int derlen = n ? i2d_X509_NAME(n, &der) : -1;
	char want[OUT_MAX * 4], got[OUT_MAX];

	if (derlen > 0) {
		const unsigned char *p = der;

		back = d2i_X509_NAME(NULL, &p, derlen);
	}
	if (back) {
		int printed = openssl_text(back, want, sizeof(want));
		int rc = ours(back, got, sizeof(got));

		if (rc == 0 && (!printed || strcmp(want, got) != 0)) {
			fprintf(stderr, "tls_dn differs from OpenSSL:\n openssl: [%s]\n tls_dn:  [%s]\n",
			        printed ? want : "(nothing)", got);
			abort();
		}
		if (rc < 0 && printed && strlen(want) < OUT_MAX) {
			fprintf(stderr, "tls_dn gave up where OpenSSL prints [%s]\n", want);
			abort();
		}
	}
	X509_NAME_free(back);
	X509_NAME_free(n);
	OPENSSL_free(der);
	return 0;
}

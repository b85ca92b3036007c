/* tls_dn.c: OpenSSL's RFC 2253 text of a name, without OpenSSL (see tls_dn.h). The
 * rules follow crypto/asn1/a_strex.c (do_name_ex, do_print_ex, do_buf, do_esc_char)
 * with the flags of XN_FLAG_RFC2253; tests/unit/test_tls_dn.c compares this code with
 * OpenSSL itself on tricky names. */
#include <stdbool.h>
#include <string.h>

#include "lib/tls_dn.h"

/* OpenSSL's short names of the attribute types it knows (OBJ_nid2sn); the unit test
 * checks each row against OpenSSL. */
static const struct {
	const char *oid;
	const char *sn;
} names[] = {
    {"2.5.4.3", "CN"},
    {"2.5.4.4", "SN"},
    {"2.5.4.5", "serialNumber"},
    {"2.5.4.6", "C"},
    {"2.5.4.7", "L"},
    {"2.5.4.8", "ST"},
    {"2.5.4.9", "street"},
    {"2.5.4.10", "O"},
    {"2.5.4.11", "OU"},
    {"2.5.4.12", "title"},
    {"2.5.4.13", "description"},
    {"2.5.4.14", "searchGuide"},
    {"2.5.4.15", "businessCategory"},
    {"2.5.4.16", "postalAddress"},
    {"2.5.4.17", "postalCode"},
    {"2.5.4.18", "postOfficeBox"},
    {"2.5.4.19", "physicalDeliveryOfficeName"},
    {"2.5.4.20", "telephoneNumber"},
    {"2.5.4.21", "telexNumber"},
    {"2.5.4.22", "teletexTerminalIdentifier"},
    {"2.5.4.23", "facsimileTelephoneNumber"},
    {"2.5.4.24", "x121Address"},
    {"2.5.4.25", "internationaliSDNNumber"},
    {"2.5.4.26", "registeredAddress"},
    {"2.5.4.27", "destinationIndicator"},
    {"2.5.4.28", "preferredDeliveryMethod"},
    {"2.5.4.29", "presentationAddress"},
    {"2.5.4.30", "supportedApplicationContext"},
    {"2.5.4.31", "member"},
    {"2.5.4.32", "owner"},
    {"2.5.4.33", "roleOccupant"},
    {"2.5.4.34", "seeAlso"},
    {"2.5.4.35", "userPassword"},
    {"2.5.4.36", "userCertificate"},
    {"2.5.4.37", "cACertificate"},
    {"2.5.4.38", "authorityRevocationList"},
    {"2.5.4.39", "certificateRevocationList"},
    {"2.5.4.40", "crossCertificatePair"},
    {"2.5.4.41", "name"},
    {"2.5.4.42", "GN"},
    {"2.5.4.43", "initials"},
    {"2.5.4.44", "generationQualifier"},
    {"2.5.4.45", "x500UniqueIdentifier"},
    {"2.5.4.46", "dnQualifier"},
    {"2.5.4.47", "enhancedSearchGuide"},
    {"2.5.4.48", "protocolInformation"},
    {"2.5.4.49", "distinguishedName"},
    {"2.5.4.50", "uniqueMember"},
    {"2.5.4.51", "houseIdentifier"},
    {"2.5.4.52", "supportedAlgorithms"},
    {"2.5.4.53", "deltaRevocationList"},
    {"2.5.4.54", "dmdName"},
    {"2.5.4.65", "pseudonym"},
    {"2.5.4.72", "role"},
    {"2.5.4.97", "organizationIdentifier"},
    {"2.5.4.98", "c3"},
    {"2.5.4.99", "n3"},
    {"2.5.4.100", "dnsName"},
    {"1.2.840.113549.1.9.1", "emailAddress"},
    {"1.2.840.113549.1.9.2", "unstructuredName"},
    {"1.2.840.113549.1.9.8", "unstructuredAddress"},
    {"0.9.2342.19200300.100.1.1", "UID"},
    {"0.9.2342.19200300.100.1.2", "textEncodedORAddress"},
    {"0.9.2342.19200300.100.1.3", "mail"},
    {"0.9.2342.19200300.100.1.4", "info"},
    {"0.9.2342.19200300.100.1.5", "favouriteDrink"},
    {"0.9.2342.19200300.100.1.6", "roomNumber"},
    {"0.9.2342.19200300.100.1.7", "photo"},
    {"0.9.2342.19200300.100.1.8", "userClass"},
    {"0.9.2342.19200300.100.1.9", "host"},
    {"0.9.2342.19200300.100.1.10", "manager"},
    {"0.9.2342.19200300.100.1.11", "documentIdentifier"},
    {"0.9.2342.19200300.100.1.12", "documentTitle"},
    {"0.9.2342.19200300.100.1.13", "documentVersion"},
    {"0.9.2342.19200300.100.1.14", "documentAuthor"},
    {"0.9.2342.19200300.100.1.15", "documentLocation"},
    {"0.9.2342.19200300.100.1.20", "homeTelephoneNumber"},
    {"0.9.2342.19200300.100.1.21", "secretary"},
    {"0.9.2342.19200300.100.1.22", "otherMailbox"},
    {"0.9.2342.19200300.100.1.23", "lastModifiedTime"},
    {"0.9.2342.19200300.100.1.24", "lastModifiedBy"},
    {"0.9.2342.19200300.100.1.25", "DC"},
    {"0.9.2342.19200300.100.1.26", "aRecord"},
    {"0.9.2342.19200300.100.1.27", "pilotAttributeType27"},
    {"0.9.2342.19200300.100.1.28", "mXRecord"},
    {"0.9.2342.19200300.100.1.29", "nSRecord"},
    {"0.9.2342.19200300.100.1.30", "sOARecord"},
    {"0.9.2342.19200300.100.1.31", "cNAMERecord"},
    {"0.9.2342.19200300.100.1.37", "associatedDomain"},
    {"0.9.2342.19200300.100.1.38", "associatedName"},
    {"0.9.2342.19200300.100.1.39", "homePostalAddress"},
    {"0.9.2342.19200300.100.1.40", "personalTitle"},
    {"0.9.2342.19200300.100.1.41", "mobileTelephoneNumber"},
    {"0.9.2342.19200300.100.1.42", "pagerTelephoneNumber"},
    {"0.9.2342.19200300.100.1.43", "friendlyCountryName"},
    {"0.9.2342.19200300.100.1.44", "uid"},
    {"0.9.2342.19200300.100.1.45", "organizationalStatus"},
    {"0.9.2342.19200300.100.1.46", "janetMailbox"},
    {"0.9.2342.19200300.100.1.47", "mailPreferenceOption"},
    {"0.9.2342.19200300.100.1.48", "buildingName"},
    {"0.9.2342.19200300.100.1.49", "dSAQuality"},
    {"0.9.2342.19200300.100.1.50", "singleLevelQuality"},
    {"0.9.2342.19200300.100.1.51", "subtreeMinimumQuality"},
    {"0.9.2342.19200300.100.1.52", "subtreeMaximumQuality"},
    {"0.9.2342.19200300.100.1.53", "personalSignature"},
    {"0.9.2342.19200300.100.1.54", "dITRedirect"},
    {"0.9.2342.19200300.100.1.55", "audio"},
    {"0.9.2342.19200300.100.1.56", "documentPublisher"},
    {"1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"},
    {"1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"},
    {"1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"},
};

const char *tls_dn_short_name(const char *oid)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].oid, oid) == 0)
			return names[i].sn;
	return NULL;
}

struct out {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void put_hex(struct out *o, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char h[2] = {hex[c >> 4], hex[c & 15]};

	put(o, h, 2);
}

/* The escape classes OpenSSL's char_type table gives the ASCII bytes that matter with
 * the RFC 2253 flags (ESC_2253, ESC_CTRL, ESC_MSB): first/last apply to ' ' and '#'. */
#define ESC_BS 1    /* backslash before the byte */
#define ESC_HEX 2   /* \XX */
#define ESC_FIRST 4 /* backslash when first in the value */
#define ESC_LAST 8  /* backslash when last in the value */

static int char_class(unsigned char c)
{
	if (c > 0x7f || c < 0x20 || c == 0x7f)
		return ESC_HEX;
	if (strchr(",+\"\\<>;", c))
		return ESC_BS;
	if (c == ' ')
		return ESC_FIRST | ESC_LAST;
	if (c == '#')
		return ESC_FIRST;
	return 0;
}

/* do_esc_char: one byte, with position flags ESC_FIRST/ESC_LAST allowed or not. */
static void esc_byte(struct out *o, unsigned char c, int pos)
{
	int cls = char_class(c);
	char ch = (char)c;

	if ((cls & ESC_BS) || (cls & pos & (ESC_FIRST | ESC_LAST))) {
		put(o, "\\", 1);
		put(o, &ch, 1);
	} else if (cls & ESC_HEX) {
		put(o, "\\", 1);
		put_hex(o, c);
	} else {
		put(o, &ch, 1);
	}
}

/* UTF8_putc: -1 for a surrogate or a value past U+10FFFF (OpenSSL then prints
 * nothing for that character). */
static int utf8_put(unsigned char *b, unsigned long v)
{
	if (v < 0x80)
		return b[0] = (unsigned char)v, 1;
	if (v < 0x800)
		return b[0] = (unsigned char)(0xc0 | v >> 6), b[1] = (unsigned char)(0x80 | (v & 0x3f)), 2;
	if (v < 0x10000) {
		if (v >= 0xd800 && v < 0xe000)
			return -1;
		b[0] = (unsigned char)(0xe0 | v >> 12);
		b[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (v & 0x3f));
		return 3;
	}
	if (v < 0x110000) {
		b[0] = (unsigned char)(0xf0 | v >> 18);
		b[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (v & 0x3f));
		return 4;
	}
	return -1;
}

/* Bytes per character of a string type (OpenSSL's tag2nbyte): 0 UTF-8, 1, 2 (BMP),
 * 4 (Universal), -1 not a string: dumped as DER. */
static int char_width(unsigned tag)
{
	switch (tag) {
	case 12:
		return 0;
	case 18:
	case 19:
	case 20:
	case 22:
	case 23:
	case 24:
	case 26:
		return 1;
	case 28:
		return 4;
	case 30:
		return 2;
	default:
		return -1;
	}
}

/* do_buf with UTF8_CONVERT: a UTF8String goes byte by byte (OpenSSL does not decode
 * it again); other strings are decoded per their width and re-encoded as UTF-8. */
static int put_value(struct out *o, const uint8_t *v, size_t len, int width)
{
	size_t step = width == 0 ? 1 : (size_t)width;

	if (len % step)
		return -1;
	for (size_t i = 0; i < len; i += step) {
		int pos = (i == 0 ? ESC_FIRST : 0);
		unsigned long c = 0;
		unsigned char u[4];
		int n;

		for (size_t j = 0; j < step; j++)
			c = c << 8 | v[i + j];
		if (i + step == len)
			pos = ESC_LAST; /* replaces FIRST, as in do_buf */
		n = width == 0 ? (u[0] = (unsigned char)c, 1) : utf8_put(u, c);
		for (int j = 0; j < n; j++)
			esc_byte(o, u[j], n == 1 ? pos : 0);
	}
	return 0;
}

/* do_dump with DUMP_DER: '#' and the hex of the value's DER encoding. */
static void put_der(struct out *o, unsigned tag, const uint8_t *v, size_t len)
{
	unsigned char hdr[6];
	size_t h = 0;

	hdr[h++] = (unsigned char)(tag | (tag == 16 || tag == 17 ? 0x20 : 0));
	if (len < 0x80) {
		hdr[h++] = (unsigned char)len;
	} else {
		size_t n = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;

		hdr[h++] = (unsigned char)(0x80 | n);
		while (n--)
			hdr[h++] = (unsigned char)(len >> (8 * n));
	}
	put(o, "#", 1);
	for (size_t i = 0; i < h; i++)
		put_hex(o, hdr[i]);
	for (size_t i = 0; i < len; i++)
		put_hex(o, v[i]);
}

static int put_ava(struct out *o, const struct tls_dn_ava *a)
{
	const char *sn = tls_dn_short_name(a->oid);
	int width = char_width(a->tag);

	put(o, sn ? sn : a->oid, strlen(sn ? sn : a->oid));
	put(o, "=", 1);
	if (!sn || width < 0 || a->tag > 30) {
		put_der(o, a->tag, a->value, a->len);
		return 0;
	}
	return put_value(o, a->value, a->len, width);
}

int tls_dn_format(const struct tls_dn_ava *avas, size_t n, char *out, size_t outlen)
{
	struct out o = {.p = out, .len = 0, .cap = outlen, .overflow = outlen == 0};

	if (outlen)
		out[0] = '\0';
	for (size_t i = n; i-- > 0;) {
		if (i + 1 < n)
			put(&o, avas[i].rdn == avas[i + 1].rdn ? "+" : ",", 1);
		if (put_ava(&o, &avas[i]) < 0)
			o.overflow = true;
	}
	if (o.overflow) {
		if (outlen)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

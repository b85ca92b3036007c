/* tls_dn.h: a distinguished name in the exact text OpenSSL's X509_NAME_print_ex(...,
 * XN_FLAG_RFC2253) gives, for backends other than OpenSSL (internal to lib/tls*).
 *
 * tls_peer.subject_dn must be the same string whichever backend runs, so that the
 * trust list (directory/dn.c) gives the same answers. OpenSSL's form is RFC 2253 with
 * its own choices, reproduced here: RDNs last first, the AVAs of a multi-valued RDN
 * last first joined by '+', short attribute names from OpenSSL's object table (an
 * attribute type this table lacks prints as its dotted OID with the value as '#'
 * followed by the hex of its DER), values converted to UTF-8 and escaped byte by byte:
 * ,+"\<>; with a backslash, '#' first and ' ' first or last with a backslash, control
 * bytes and bytes over 0x7f as \XX (so "É" reads "\C3\89"). */
#ifndef MSS_TLS_DN_H
#define MSS_TLS_DN_H

#include <stddef.h>
#include <stdint.h>

/* One attribute of a name, in the order of its DER encoding. */
struct tls_dn_ava {
	const char *oid;      /* dotted, "2.5.4.3" */
	unsigned tag;         /* ASN.1 universal tag of the value: 12 UTF8String, 19 PrintableString... */
	const uint8_t *value; /* content octets */
	size_t len;
	unsigned rdn; /* index of the RDN it belongs to: equal indexes make a multi-valued RDN */
};

/* Writes the name into out. Returns 0, or -1 (out is then "") when the result does
 * not fit whole or a value is malformed (a BMPString of odd length...), as OpenSSL
 * then prints nothing usable either. */
int tls_dn_format(const struct tls_dn_ava *avas, size_t n, char *out, size_t outlen);
/* The short name OpenSSL gives the attribute type oid, or NULL when the table does not
 * have it. */
const char *tls_dn_short_name(const char *oid);

#endif

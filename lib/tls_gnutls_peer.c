/* tls_gnutls_peer.c: the verified peer on GnuTLS, in the same text as the OpenSSL
 * backend: "TLSv1.3", OpenSSL's suite names, the DNs through tls_dn.c. */
#include <string.h>

#include "lib/str.h"
#include "lib/tls_dn.h"
#include "lib/tls_gnutls_int.h"

#define TLS_MAX_AVAS 64

static void copy_whole(char *dst, size_t dstlen, const char *src, size_t n)
{
	dst[0] = '\0';
	if (n < dstlen) {
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
}

static const char *version_name(gnutls_protocol_t v)
{
	return v == GNUTLS_TLS1_3 ? "TLSv1.3" : v == GNUTLS_TLS1_2 ? "TLSv1.2" : "unknown";
}

/* OpenSSL's names of the suites the policy allows. */
static const char *cipher_name(gnutls_session_t s)
{
	static const struct {
		gnutls_kx_algorithm_t kx;
		gnutls_cipher_algorithm_t cipher;
		const char *name;
	} tls12[] = {
	    {GNUTLS_KX_ECDHE_ECDSA, GNUTLS_CIPHER_AES_128_GCM, "ECDHE-ECDSA-AES128-GCM-SHA256"},
	    {GNUTLS_KX_ECDHE_ECDSA, GNUTLS_CIPHER_AES_256_GCM, "ECDHE-ECDSA-AES256-GCM-SHA384"},
	    {GNUTLS_KX_ECDHE_ECDSA, GNUTLS_CIPHER_CHACHA20_POLY1305, "ECDHE-ECDSA-CHACHA20-POLY1305"},
	    {GNUTLS_KX_ECDHE_RSA, GNUTLS_CIPHER_AES_128_GCM, "ECDHE-RSA-AES128-GCM-SHA256"},
	    {GNUTLS_KX_ECDHE_RSA, GNUTLS_CIPHER_AES_256_GCM, "ECDHE-RSA-AES256-GCM-SHA384"},
	    {GNUTLS_KX_ECDHE_RSA, GNUTLS_CIPHER_CHACHA20_POLY1305, "ECDHE-RSA-CHACHA20-POLY1305"},
	};
	gnutls_cipher_algorithm_t c = gnutls_cipher_get(s);

	if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_3)
		return c == GNUTLS_CIPHER_AES_128_GCM         ? "TLS_AES_128_GCM_SHA256"
		       : c == GNUTLS_CIPHER_AES_256_GCM       ? "TLS_AES_256_GCM_SHA384"
		       : c == GNUTLS_CIPHER_CHACHA20_POLY1305 ? "TLS_CHACHA20_POLY1305_SHA256"
		                                              : "unknown";
	for (size_t i = 0; i < sizeof(tls12) / sizeof(tls12[0]); i++)
		if (tls12[i].kx == gnutls_kx_get(s) && tls12[i].cipher == c)
			return tls12[i].name;
	return "unknown";
}

/* The name's AVAs in DER order, then tls_dn_format. */
static void peer_dn(gnutls_x509_dn_t dn, char *out, size_t outlen)
{
	struct tls_dn_ava avas[TLS_MAX_AVAS];
	char oids[TLS_MAX_AVAS][64];
	size_t n = 0;

	out[0] = '\0';
	for (int r = 0;; r++) {
		gnutls_x509_ava_st ava;
		int a, rc = 0;

		for (a = 0; (rc = gnutls_x509_dn_get_rdn_ava(dn, r, a, &ava)) == 0; a++) {
			if (n == TLS_MAX_AVAS || ava.oid.size >= sizeof(oids[0]))
				return;
			memcpy(oids[n], ava.oid.data, ava.oid.size);
			oids[n][ava.oid.size] = '\0';
			avas[n] = (struct tls_dn_ava){.oid = oids[n],
			                              .tag = (unsigned)ava.value_tag,
			                              .value = ava.value.data,
			                              .len = ava.value.size,
			                              .rdn = (unsigned)r};
			n++;
		}
		if (a == 0)
			break;
		if (rc != GNUTLS_E_ASN1_ELEMENT_NOT_FOUND && rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return; /* a name GnuTLS cannot read: no identity rather than a partial one */
	}
	(void)tls_dn_format(avas, n, out, outlen);
}

/* The first rfc822Name, refused when it holds a NUL or control byte or does not fit
 * (left empty, as the OpenSSL backend does). */
static void peer_email(gnutls_x509_crt_t crt, char *out, size_t outlen)
{
	char buf[1024];

	out[0] = '\0';
	for (unsigned i = 0;; i++) {
		size_t size = sizeof(buf), j;
		unsigned type = 0, critical;
		int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &size, &type, &critical);

		if (rc < 0 && rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
			return;
		if (type != GNUTLS_SAN_RFC822NAME)
			continue;
		for (j = 0;
		     rc >= 0 && j < size && (unsigned char)buf[j] > 0x20 && (unsigned char)buf[j] < 0x7f; j++)
			;
		if (rc >= 0 && j == size && size > 0)
			copy_whole(out, outlen, buf, size);
		return;
	}
}

void tls_gnutls_peer_info(struct tls_sess *s, struct tls_peer *out)
{
	const char *v = version_name(gnutls_protocol_get_version(s->s)), *c = cipher_name(s->s);
	unsigned n = 0;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(s->s, &n);
	unsigned char md[32];
	size_t mdlen = sizeof(md);
	gnutls_x509_crt_t crt;
	gnutls_x509_dn_t dn;

	memset(out, 0, sizeof(*out));
	copy_whole(out->version, sizeof(out->version), v, strlen(v));
	copy_whole(out->cipher, sizeof(out->cipher), c, strlen(c));
	out->resumed = !s->client && gnutls_session_is_resumed(s->s) != 0;
	if (!s->verified || !peers || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md, &mdlen) == 0 && mdlen == 32) {
		out->has_cert = true;
		str_hex(out->sha256, md, mdlen);
		peer_email(crt, out->email, sizeof(out->email));
		if (gnutls_x509_crt_get_subject(crt, &dn) == 0)
			peer_dn(dn, out->subject_dn, sizeof(out->subject_dn));
		if (gnutls_x509_crt_get_issuer(crt, &dn) == 0)
			peer_dn(dn, out->issuer_dn, sizeof(out->issuer_dn));
	}
	gnutls_x509_crt_deinit(crt);
}

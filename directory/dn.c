/* dn.c: DN parsing and canonical keys (see dn.h). */

#include <stdlib.h>
#include <string.h>

#include "directory/dn.h"
#include "lib/buf.h"
#include "lib/str.h"

/* Attribute type names as certificates and directories write them (RFC 4514 3,
 * RFC 4519, PKCS #9, OpenSSL short names). */
static const struct {
	const char *name;
	const char *oid;
} attr_types[] = {
    {"cn", "2.5.4.3"},
    {"commonname", "2.5.4.3"},
    {"sn", "2.5.4.4"},
    {"surname", "2.5.4.4"},
    {"serialnumber", "2.5.4.5"},
    {"c", "2.5.4.6"},
    {"countryname", "2.5.4.6"},
    {"l", "2.5.4.7"},
    {"localityname", "2.5.4.7"},
    {"st", "2.5.4.8"},
    {"s", "2.5.4.8"},
    {"stateorprovincename", "2.5.4.8"},
    {"street", "2.5.4.9"},
    {"streetaddress", "2.5.4.9"},
    {"o", "2.5.4.10"},
    {"organizationname", "2.5.4.10"},
    {"ou", "2.5.4.11"},
    {"organizationalunitname", "2.5.4.11"},
    {"title", "2.5.4.12"},
    {"gn", "2.5.4.42"},
    {"givenname", "2.5.4.42"},
    {"organizationidentifier", "2.5.4.97"},
    {"dc", "0.9.2342.19200300.100.1.25"},
    {"domaincomponent", "0.9.2342.19200300.100.1.25"},
    {"uid", "0.9.2342.19200300.100.1.1"},
    {"userid", "0.9.2342.19200300.100.1.1"},
    {"emailaddress", "1.2.840.113549.1.9.1"},
    {"email", "1.2.840.113549.1.9.1"},
    {"e", "1.2.840.113549.1.9.1"},
};

struct dn_parser {
	const char *p;
	char sep; /* ',' (RFC 4514) or '/' (OpenSSL oneline) */
	char *err;
	size_t errlen;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads the attribute type up to '=' and writes its OID or lowercase name to out. */
static int parse_type(struct dn_parser *ps, struct buf *out)
{
	while (is_space(*ps->p))
		ps->p++;
	const char *start = ps->p;
	while (*ps->p && *ps->p != '=' && *ps->p != ps->sep && *ps->p != '+')
		ps->p++;
	if (*ps->p != '=') {
		str_error(ps->err, ps->errlen, "%s", "attribute without '='");
		return -1;
	}
	size_t n = (size_t)(ps->p - start);
	while (n > 0 && is_space(start[n - 1]))
		n--;
	ps->p++;
	if (n > 4 && str_ieqn(start, "oid.", 4)) {
		start += 4;
		n -= 4;
	}
	if (n == 0 || n > 64) {
		str_error(ps->err, ps->errlen, "%s", "bad attribute type");
		return -1;
	}
	char name[65];
	memcpy(name, start, n);
	name[n] = '\0';
	str_lower(name);
	for (size_t i = 0; i < sizeof(attr_types) / sizeof(attr_types[0]); i++) {
		if (strcmp(name, attr_types[i].name) == 0)
			return buf_append_str(out, attr_types[i].oid);
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
			str_error(ps->err, ps->errlen, "%s", "bad attribute type");
			return -1;
		}
	}
	return buf_append_str(out, name);
}

/* Reads a '#' hex value (BER) and appends it as lowercase "#hex". */
static int parse_hex_value(struct dn_parser *ps, struct buf *raw)
{
	if (buf_append_char(raw, '#') < 0)
		goto toolong;
	ps->p++;
	size_t digits = 0;
	while (hexval(*ps->p) >= 0) {
		char c = *ps->p++;
		if (buf_append_char(raw, (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c)) < 0)
			goto toolong;
		digits++;
	}
	while (is_space(*ps->p))
		ps->p++;
	if (digits == 0 || digits % 2 != 0 ||
	    (*ps->p && *ps->p != ps->sep && *ps->p != '+' && *ps->p != ';')) {
		str_error(ps->err, ps->errlen, "%s", "bad hex value");
		return -1;
	}
	return 0;
toolong:
	str_error(ps->err, ps->errlen, "%s", "DN too long");
	return -1;
}

/* Reads a string value, undoing escapes, up to an unescaped separator. */
static int parse_string_value(struct dn_parser *ps, struct buf *raw)
{
	while (*ps->p && *ps->p != ps->sep && *ps->p != '+' && !(ps->sep == ',' && *ps->p == ';')) {
		char c = *ps->p++;
		if (c != '\\' || ps->sep == '/') {
			if (buf_append_char(raw, c) < 0)
				goto toolong;
			continue;
		}
		int h1 = hexval(ps->p[0]), h2 = h1 >= 0 ? hexval(ps->p[1]) : -1;
		if (h1 >= 0 && h2 >= 0) {
			c = (char)(h1 * 16 + h2);
			ps->p += 2;
		} else if (*ps->p != '\0') {
			c = *ps->p++;
		} else {
			str_error(ps->err, ps->errlen, "%s", "bad escape");
			return -1;
		}
		if (buf_append_char(raw, c) < 0)
			goto toolong;
	}
	return 0;
toolong:
	str_error(ps->err, ps->errlen, "%s", "DN too long");
	return -1;
}

/* Appends the value in its canonical form: spaces trimmed and collapsed, ASCII
 * lowercase, every byte outside [a-z0-9 .@_-] hex-escaped so that no separator can
 * appear unescaped. */
static int append_canonical_value(struct buf *out, const struct buf *raw)
{
	size_t i = 0, n = raw->len;
	while (i < n && is_space(raw->data[i]))
		i++;
	while (n > i && is_space(raw->data[n - 1]))
		n--;
	for (bool space = false; i < n; i++) {
		unsigned char c = (unsigned char)raw->data[i];
		if (is_space((char)c)) {
			space = true;
			continue;
		}
		if (space && buf_append_char(out, ' ') < 0)
			return -1;
		space = false;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		int rc = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '@' ||
		                 c == '_' || c == '-'
		             ? buf_append_char(out, (char)c)
		             : buf_printf(out, "\\%02x", c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_ava(struct dn_parser *ps, struct buf *ava)
{
	if (parse_type(ps, ava) < 0)
		return -1;
	if (buf_append_char(ava, '=') < 0) {
		str_error(ps->err, ps->errlen, "%s", "DN too long");
		return -1;
	}
	while (is_space(*ps->p))
		ps->p++;
	struct buf raw;
	buf_init(&raw, DN_KEY_MAX);
	int rc = *ps->p == '#' && ps->sep == ',' ? parse_hex_value(ps, &raw) : parse_string_value(ps, &raw);
	if (rc == 0 && append_canonical_value(ava, &raw) < 0) {
		str_error(ps->err, ps->errlen, "%s", "DN too long");
		rc = -1;
	}
	buf_free(&raw);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parses one RDN (AVAs joined by '+') into its canonical text: AVAs sorted. */
static int parse_rdn(struct dn_parser *ps, struct buf *rdn)
{
	char *avas[DN_MAX_AVAS];
	size_t n = 0;
	int rc = 0;
	for (;;) {
		if (n == DN_MAX_AVAS) {
			str_error(ps->err, ps->errlen, "%s", "too many values in one RDN");
			rc = -1;
			break;
		}
		struct buf ava;
		buf_init(&ava, DN_KEY_MAX);
		rc = parse_ava(ps, &ava);
		avas[n++] = buf_strdup(&ava);
		buf_free(&ava);
		if (rc < 0 || *ps->p != '+')
			break;
		ps->p++;
	}
	qsort(avas, n, sizeof(avas[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 &&
		    ((i > 0 && buf_append_char(rdn, '+') < 0) || buf_append_str(rdn, avas[i]) < 0)) {
			str_error(ps->err, ps->errlen, "%s", "DN too long");
			rc = -1;
		}
		free(avas[i]);
	}
	return rc;
}

static int parse_rdns(struct dn_parser *ps, char **rdns, size_t *nrdn)
{
	*nrdn = 0;
	while (*ps->p) {
		if (*nrdn == DN_MAX_RDNS) {
			str_error(ps->err, ps->errlen, "%s", "too many RDNs");
			return -1;
		}
		struct buf rdn;
		buf_init(&rdn, DN_KEY_MAX);
		int rc = parse_rdn(ps, &rdn);
		rdns[(*nrdn)++] = buf_strdup(&rdn);
		buf_free(&rdn);
		if (rc < 0)
			return -1;
		if (*ps->p == '\0')
			break;
		ps->p++; /* the separator */
		while (is_space(*ps->p))
			ps->p++;
		if (*ps->p == '\0') {
			str_error(ps->err, ps->errlen, "%s", "empty RDN at the end");
			return -1;
		}
	}
	if (*nrdn == 0) {
		str_error(ps->err, ps->errlen, "%s", "empty DN");
		return -1;
	}
	return 0;
}

static int join_rdns(char **rdns, size_t n, bool reversed, char *out, size_t outlen)
{
	struct buf b;
	buf_init(&b, outlen > 0 ? outlen - 1 : 0);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *r = rdns[reversed ? n - 1 - i : i];
		rc = (i > 0 ? buf_append_char(&b, ',') : 0) | buf_append_str(&b, r);
	}
	if (rc == 0)
		rc = str_copy(out, outlen, b.data);
	buf_free(&b);
	return rc;
}

int dn_canonical(const char *dn, bool reversed, char *out, size_t outlen, char *err, size_t errlen)
{
	struct dn_parser ps = {.p = dn, .sep = ',', .err = err, .errlen = errlen};
	while (is_space(*ps.p))
		ps.p++;
	/* OpenSSL's X509_NAME_oneline: "/C=FR/O=x/CN=y", least specific first. */
	if (*ps.p == '/') {
		ps.sep = '/';
		ps.p++;
		reversed = !reversed;
	}
	char *rdns[DN_MAX_RDNS];
	size_t n = 0;
	int rc = parse_rdns(&ps, rdns, &n);
	if (rc == 0 && join_rdns(rdns, n, reversed, out, outlen) < 0) {
		str_error(err, errlen, "%s", "DN too long");
		rc = -1;
	}
	for (size_t i = 0; i < n; i++)
		free(rdns[i]);
	return rc;
}

bool dn_equal(const char *a, const char *b)
{
	char ka[DN_KEY_MAX], kb[DN_KEY_MAX], err[64];
	if (dn_canonical(a, false, ka, sizeof(ka), err, sizeof(err)) < 0 ||
	    dn_canonical(b, false, kb, sizeof(kb), err, sizeof(err)) < 0)
		return false;
	return strcmp(ka, kb) == 0;
}

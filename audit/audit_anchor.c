/* audit_anchor.c: the text form of an anchor (see audit.h): one line an administrator
 * can print, copy off the machine and give back to `mssctl audit verify --anchor`. */
#include "audit/audit.h"

#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "audit/audit_chain.h"

#define ANCHOR_TAG "mss-audit-anchor 1 "

int audit_anchor_format(const struct audit_anchor *a, char *out, size_t outlen)
{
	char pk[crypto_sign_PUBLICKEYBYTES * 2 + 1];
	sodium_bin2hex(pk, sizeof pk, a->pk, sizeof a->pk);
	return str_format(out, outlen, ANCHOR_TAG "key=%s seq=%lld hash=%s sig=%s", pk, (long long)a->seq,
	                  a->hash, a->sig);
}

/* Copies the value of "name=" from the space-separated fields of s. */
static int field(const char *s, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	for (const char *p = s; (p = strstr(p, name)) != NULL; p += nl) {
		if ((p != s && p[-1] != ' ') || p[nl] != '=')
			continue;
		const char *v = p + nl + 1;
		size_t vl = strcspn(v, " \t\r\n");
		if (vl >= outlen)
			return -1;
		memcpy(out, v, vl);
		out[vl] = '\0';
		return 0;
	}
	return -1;
}

int audit_anchor_parse(const char *line, struct audit_anchor *a, char *err, size_t errlen)
{
	char pk[crypto_sign_PUBLICKEYBYTES * 2 + 1], seq[24], *end;
	unsigned char bin[AUDIT_HASH_LEN], sig[crypto_sign_BYTES];

	memset(a, 0, sizeof *a);
	line += strspn(line, " \t\r\n");
	if (strncmp(line, ANCHOR_TAG, strlen(ANCHOR_TAG)) != 0) {
		str_error(err, errlen, "%s", "not an audit anchor (it begins \"" ANCHOR_TAG "\")");
		return -1;
	}
	if (field(line, "key", pk, sizeof pk) != 0 || audit_unhex(pk, a->pk, sizeof a->pk) != 0 ||
	    field(line, "seq", seq, sizeof seq) != 0 || field(line, "hash", a->hash, sizeof a->hash) != 0 ||
	    audit_unhex(a->hash, bin, sizeof bin) != 0 || field(line, "sig", a->sig, sizeof a->sig) != 0 ||
	    audit_unhex(a->sig, sig, sizeof sig) != 0) {
		str_error(err, errlen, "%s",
		          "audit anchor: a field is missing or malformed (key, seq, hash, sig)");
		return -1;
	}
	long long n = strtoll(seq, &end, 10);
	if (*end != '\0' || n < 1) {
		str_error(err, errlen, "%s", "audit anchor: seq is not a record number");
		return -1;
	}
	a->seq = n;
	/* The anchor must be what the key signed: a typo is caught here, not reported
	 * later as tampering. */
	if (!audit_sig_ok(a->pk, "head", a->seq, a->hash, a->sig)) {
		str_error(err, errlen, "%s", "audit anchor: its signature does not verify with its key");
		return -1;
	}
	return 0;
}

/* dn.h: distinguished names compared by their RDN components (RFC 4514, RFC 4518).
 *
 * The trust list and a peer's certificate spell the same DN differently: spaces
 * after commas, attribute types in another case or as OIDs ("2.5.4.3" for CN), values
 * in another case, characters escaped (\2C or \,), a multi-valued RDN's parts in another
 * order. Comparing strings byte for byte would refuse a listed operator or, worse,
 * invite a lenient ad-hoc match. Here each DN is parsed into RDNs and reduced to a
 * canonical key: two DNs are equal when their keys are. */
#ifndef MSS_DN_H
#define MSS_DN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/mss_limits.h"

#define DN_KEY_MAX MSS_DN_KEY_SIZE
#define DN_MAX_RDNS 64
#define DN_MAX_AVAS 16

/* Computes the canonical key of dn, an RFC 4514 string ("CN=a,O=b", ';' accepted as
 * separator, spaces around separators ignored) or OpenSSL's "/C=FR/O=b/CN=a" form
 * (whose RDN order is the reverse). In the key: attribute types are OIDs (known names
 * mapped, case-insensitive); values are unescaped, spaces trimmed and collapsed, ASCII
 * letters lowercased (caseIgnoreMatch), re-escaped so that the key is unambiguous; the
 * AVAs of a multi-valued RDN are sorted; RDNs keep their order (most specific first for
 * RFC 4514 input). reversed: build the key with the RDN order reversed. Returns 0, or -1
 * with err (empty DN, missing '=', bad escape, bad hex value, too long). */
int dn_canonical(const char *dn, bool reversed, char *out, size_t outlen, char *err, size_t errlen);

/* True when a and b are both valid DNs with the same RDN sequence. */
bool dn_equal(const char *a, const char *b);

#endif

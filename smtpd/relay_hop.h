/* relay_hop.h: where a domain's mail goes (DESIGN.md "Relay out to the trust space"):
 * relay_routes, else the domain's MX records by preference (RFC 5321 5.1), else the
 * domain itself (its address records, RFC 5321 5.1 "implicit MX"). DNS through libc's
 * resolver (res_query + ns_parse), never hand-written. */
#ifndef MSS_RELAY_HOP_H
#define MSS_RELAY_HOP_H

#include <stddef.h>

#include "lib/config.h"
#include "lib/mss_limits.h"

#define RELAY_HOPS_MAX 10

struct relay_hop {
	char host[MSS_DOMAIN_SIZE]; /* a name or an address */
	unsigned port;
	unsigned preference;
};

/* Fills hops (at most RELAY_HOPS_MAX, in the order to try) for domain. Returns the
 * number of hops (>= 1); 0 when the domain accepts no mail (a null MX, RFC 7505: a
 * permanent failure); -1 with err when DNS failed for now (retry later). */
int relay_hops(const struct mss_config *cfg, const char *domain, struct relay_hop *hops, char *err,
               size_t errlen);

/* Parses a DNS answer for domain's MX records into hops, sorted by preference
 * (exposed for the tests and the fuzz target). Returns the number of hops, 0 for a
 * null MX, -2 when the answer holds no MX record, -1 when it does not parse. */
int relay_hops_from_answer(const unsigned char *answer, int len, struct relay_hop *hops, char *err,
                           size_t errlen);

#endif

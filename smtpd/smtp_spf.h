/* smtp_spf.h: establishment relays identified by network and SPF (RFC 7208), with
 * libspf2.
 *
 * An establishment's MTA without a client certificate is a relay when its address is
 * in relay_networks and SPF passes for the MAIL FROM domain. When spf_zone_file is
 * set, DNS is never used: SPF records come from that file (lines "name TYPE value",
 * loaded into libspf2's offline zone), for tests and air-gapped sites. */
#ifndef MSS_SMTP_SPF_H
#define MSS_SMTP_SPF_H

#include <stdbool.h>
#include <stddef.h>

struct smtp_spf;

/* zone_file: "" to use the system resolver. Returns NULL with err (file:line: why). */
struct smtp_spf *smtp_spf_new(const char *zone_file, char *err, size_t errlen);
void smtp_spf_free(struct smtp_spf *spf);
/* Evaluates SPF for MAIL FROM sender (an address; "" uses postmaster@helo) sent from
 * ip. Returns 1 pass, 0 any other result, -1 on an internal error. result (may be
 * NULL, else of SMTP_SPF_RESULT_SIZE bytes at least) receives the SPF result name ("pass",
 * "fail", "none", ...). Unlike libspf2's
 * SPF_request_query_mailfrom, loopback peers get no free pass: they are checked
 * against the record like any other address. */
#define SMTP_SPF_RESULT_SIZE 32
int smtp_spf_check(struct smtp_spf *spf, const char *ip, const char *helo, const char *sender, char *result,
                   size_t resultlen);

/* True when ip (textual IPv4/IPv6) is inside one of the CIDR blocks of list
 * ("10.0.0.0/8, 192.0.2.1, 2001:db8::/32"). Malformed entries never match. */
bool smtp_net_match(const char *list, const char *ip);

#endif

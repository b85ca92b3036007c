/* relay_hop.c: next hops (relay_hop.h). */
#include "smtpd/relay_hop.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"

static int by_preference(const void *a, const void *b)
{
	const struct relay_hop *x = a, *y = b;
	return (x->preference > y->preference) - (x->preference < y->preference);
}

/* One MX record's RDATA: preference, then the exchange's name (compressed). */
static int mx_record(ns_msg *msg, ns_rr *rr, struct relay_hop *hop)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	if (ns_rr_rdlen(*rr) < 3)
		return -1;
	hop->preference = ns_get16(rd);
	if (ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), rd + 2, hop->host, sizeof hop->host) < 0)
		return -1;
	hop->port = 25;
	return 0;
}

int relay_hops_from_answer(const unsigned char *answer, int len, struct relay_hop *hops, char *err,
                           size_t errlen)
{
	ns_msg msg;
	ns_rr rr;
	int n = 0;
	bool null_mx = false;
	if (ns_initparse(answer, len, &msg) < 0) {
		str_error(err, errlen, "MX answer does not parse");
		return -1;
	}
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && n < RELAY_HOPS_MAX; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) {
			str_error(err, errlen, "MX record does not parse");
			return -1;
		}
		if (ns_rr_type(rr) != ns_t_mx)
			continue;
		if (mx_record(&msg, &rr, &hops[n]) < 0) {
			str_error(err, errlen, "MX record does not parse");
			return -1;
		}
		/* RFC 7505: "0 ." says the domain takes no mail */
		if (hops[n].host[0] == '\0' || strcmp(hops[n].host, ".") == 0)
			null_mx = true;
		else
			n++;
	}
	if (n == 0)
		return null_mx ? 0 : -2;
	qsort(hops, (size_t)n, sizeof *hops, by_preference);
	return n;
}

int relay_hops(const struct mss_config *cfg, const char *domain, struct relay_hop *hops, char *err,
               size_t errlen)
{
	unsigned char answer[NS_PACKETSZ * 4];
	memset(hops, 0, sizeof *hops);
	int r = config_relay_route(cfg, domain, hops[0].host, sizeof hops[0].host, &hops[0].port);
	if (r == 1)
		return 1;
	if (r < 0) {
		str_error(err, errlen, "relay_routes: bad route for %s", domain);
		return -1;
	}
	int len = res_query(domain, ns_c_in, ns_t_mx, answer, sizeof answer);
	if (len > 0) {
		r = relay_hops_from_answer(answer, len, hops, err, errlen);
		if (r != -2)
			return r;
	} else if (h_errno != HOST_NOT_FOUND && h_errno != NO_DATA) {
		str_error(err, errlen, "DNS: no answer for the MX of %s", domain);
		return -1;
	}
	/* no MX: the domain's own address records (RFC 5321 5.1) */
	memset(&hops[0], 0, sizeof hops[0]);
	if (str_copy(hops[0].host, sizeof hops[0].host, domain) != 0) {
		str_error(err, errlen, "domain too long");
		return -1;
	}
	hops[0].port = 25;
	return 1;
}

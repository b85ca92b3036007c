/* smtp_spf.c: relay identification by network and SPF (see smtp_spf.h). */

#include "smtpd/smtp_spf.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#include "lib/buf.h"
#include "lib/str.h"

struct smtp_spf {
	SPF_server_t *server;
	SPF_dns_server_t *zone; /* ours to free: SPF_server_new_dns does not take it */
};

static const struct {
	const char *name;
	ns_type type;
} zone_types[] = {
    {"TXT", ns_t_txt},   {"SPF", ns_t_spf}, {"A", ns_t_a},
    {"AAAA", ns_t_aaaa}, {"MX", ns_t_mx},   {"PTR", ns_t_ptr},
};

/* One zone line "name TYPE value" ('#' comments, blank lines). Returns 0 or -1. */
static int zone_line(SPF_dns_server_t *dns, char *line, char *why, size_t whylen)
{
	char *name, *type, *value, *save = NULL;
	size_t vlen;

	line = str_trim(line);
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	name = strtok_r(line, " \t", &save);
	type = strtok_r(NULL, " \t", &save);
	value = save ? str_trim(save) : NULL;
	if (name == NULL || type == NULL || value == NULL || value[0] == '\0')
		return str_error(why, whylen, "expected \"name TYPE value\""), -1;
	vlen = strlen(value);
	if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
		value[vlen - 1] = '\0';
		value++;
	}
	for (size_t i = 0; i < sizeof(zone_types) / sizeof(zone_types[0]); i++) {
		if (!str_ieq(type, zone_types[i].name))
			continue;
		if (SPF_dns_zone_add_str(dns, name, zone_types[i].type, NETDB_SUCCESS, value) !=
		    SPF_E_SUCCESS)
			return str_error(why, whylen, "libspf2 refused the record"), -1;
		return 0;
	}
	str_error(why, whylen, "unknown record type %s (TXT, SPF, A, AAAA, MX, PTR)", type);
	return -1;
}

static SPF_dns_server_t *zone_load(const char *path, char *err, size_t errlen)
{
	SPF_dns_server_t *dns;
	FILE *f = fopen(path, "r");
	char line[2048], why[200];
	unsigned lineno = 0;

	if (f == NULL) {
		str_error(err, errlen, "%s: cannot open", path);
		return NULL;
	}
	dns = SPF_dns_zone_new(NULL, "mss-zone", 0);
	while (dns && fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (zone_line(dns, line, why, sizeof(why)) < 0) {
			str_error(err, errlen, "%s:%u: %s", path, lineno, why);
			SPF_dns_free(dns);
			dns = NULL;
		}
	}
	fclose(f);
	if (dns == NULL && lineno == 0)
		str_error(err, errlen, "%s: cannot create the SPF zone", path);
	return dns;
}

struct smtp_spf *smtp_spf_new(const char *zone_file, char *err, size_t errlen)
{
	struct smtp_spf *spf = xcalloc(1, sizeof(*spf));

	if (zone_file && zone_file[0]) {
		spf->zone = zone_load(zone_file, err, errlen);
		if (spf->zone)
			spf->server = SPF_server_new_dns(spf->zone, 0);
	} else {
		spf->server = SPF_server_new(SPF_DNS_CACHE, 0);
		if (spf->server == NULL)
			str_error(err, errlen, "libspf2: cannot create the SPF resolver");
	}
	if (spf->server == NULL) {
		if (spf->zone)
			SPF_dns_free(spf->zone);
		free(spf);
		return NULL;
	}
	return spf;
}

void smtp_spf_free(struct smtp_spf *spf)
{
	if (spf == NULL)
		return;
	SPF_server_free(spf->server);
	if (spf->zone)
		SPF_dns_free(spf->zone);
	free(spf);
}

/* What SPF_request_query_mailfrom does, minus its "localhost always passes" shortcut:
 * fetch the sender domain's record and interpret it (libspf2's own sequence). */
static SPF_result_t evaluate(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp)
{
	SPF_record_t *rec = NULL;
	SPF_errcode_t e;

	req->cur_dom = req->env_from_dp;
	e = SPF_server_get_record(server, req, resp, &rec);
	if (e != SPF_E_SUCCESS || rec == NULL) {
		if (rec)
			SPF_record_free(rec);
		return e == SPF_E_NOT_SPF     ? SPF_RESULT_NONE
		       : e == SPF_E_DNS_ERROR ? SPF_RESULT_TEMPERROR
		                              : SPF_RESULT_PERMERROR;
	}
	resp->spf_record_exp = rec;
	e = SPF_record_interpret(rec, req, resp, 0);
	resp->spf_record_exp = NULL;
	SPF_record_free(rec);
	return e == SPF_E_SUCCESS ? SPF_response_result(resp) : SPF_RESULT_PERMERROR;
}

int smtp_spf_check(struct smtp_spf *spf, const char *ip, const char *helo, const char *sender, char *result,
                   size_t resultlen)
{
	SPF_request_t *req;
	SPF_response_t *resp;
	SPF_result_t res;
	SPF_errcode_t e;

	if (result)
		str_assert(str_copy(result, resultlen, "none"), "result holds SMTP_SPF_RESULT_SIZE");
	if (spf == NULL || (req = SPF_request_new(spf->server)) == NULL)
		return -1;
	e = strchr(ip, ':') ? SPF_request_set_ipv6_str(req, ip) : SPF_request_set_ipv4_str(req, ip);
	if (e == SPF_E_SUCCESS && helo && helo[0])
		e = SPF_request_set_helo_dom(req, helo);
	if (e != SPF_E_SUCCESS || (!sender[0] && !(helo && helo[0])) ||
	    SPF_request_set_env_from(req, sender) != 0 || req->env_from_dp == NULL) {
		SPF_request_free(req);
		return 0;
	}
	resp = SPF_response_new(req);
	res = resp ? evaluate(spf->server, req, resp) : SPF_RESULT_TEMPERROR;
	if (result)
		str_assert(str_copy(result, resultlen, SPF_strresult(res)),
		           "libspf2's result names (\"temperror\" the longest) into SMTP_SPF_RESULT_SIZE");
	if (resp)
		SPF_response_free(resp);
	SPF_request_free(req);
	return res == SPF_RESULT_PASS ? 1 : 0;
}

/* One "addr[/bits]" entry against the parsed peer address. */
static bool cidr_match(const char *entry, int family, const unsigned char *peer)
{
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned char net[16];
	char *slash;
	uint64_t bits;
	int len = family == AF_INET ? 4 : 16;

	if (str_copy(addr, sizeof(addr), entry) < 0)
		return false;
	slash = strchr(addr, '/');
	bits = (uint64_t)len * 8;
	if (slash) {
		*slash = '\0';
		if (str_to_u64(slash + 1, (uint64_t)len * 8, &bits) < 0)
			return false;
	}
	if (inet_pton(family, addr, net) != 1)
		return false;
	for (int i = 0; i < len && bits > 0; i++, bits = bits >= 8 ? bits - 8 : 0) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((net[i] & mask) != (peer[i] & mask))
			return false;
	}
	return true;
}

bool smtp_net_match(const char *list, const char *ip)
{
	unsigned char peer[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	char copy[4096], *tok, *save = NULL;

	if (inet_pton(family, ip, peer) != 1 || str_copy(copy, sizeof(copy), list) < 0)
		return false;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
		if (cidr_match(tok, family, peer))
			return true;
	return false;
}

/* auth_throttle.c: the throttling rules over the counters of auth_store.c (see
 * auth_throttle.h). */
#include "auth/auth_throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "auth/auth_store.h"
#include "lib/str.h"

#define DELAY_STEPS_MAX 10

/* An IPv6 client is counted by its /64, the usual smallest allocation to one site
 * (an IPv4-mapped address stays whole: its /64 would be every IPv4 client). */
static void client_key(const char *ip, char *out, size_t outlen)
{
	struct in6_addr a;
	char text[INET6_ADDRSTRLEN];

	if (strchr(ip, ':') != NULL && inet_pton(AF_INET6, ip, &a) == 1 && !IN6_IS_ADDR_V4MAPPED(&a)) {
		memset(a.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a, text, sizeof(text)) != NULL &&
		    str_format(out, outlen, "%s/64", text) == 0)
			return;
	}
	/* peer addresses are at most 64 bytes (lib/master.h), client keys 80 */
	str_assert(str_copy(out, outlen, ip), "an address text fits a client key");
}

void auth_throttle_keys(struct auth_throttle *t, const char *client_ip, const char *account)
{
	memset(t, 0, sizeof(*t));
	client_key(client_ip, t->client, sizeof(t->client));
	/* a name the client gave: a cut one would share its key with another account */
	if (str_copy(t->account, sizeof(t->account), account) < 0)
		str_assert(str_copy(t->account, sizeof(t->account), "(too long)"), "a short constant");
	str_lower(t->account);
}

int auth_throttle_read(struct sql *db, const struct mss_config *cfg, struct auth_throttle *t, time_t now)
{
	struct auth_counter c, a = {0, 0};

	if (auth_store_counter(db, "client", t->client, now, cfg->auth_failure_window, &c) < 0 ||
	    (t->account[0] &&
	     auth_store_counter(db, "account", t->account, now, cfg->auth_failure_window, &a) < 0))
		return -1;
	t->client_failures = c.failures;
	t->client_locked = c.locked_until > now;
	t->account_failures = a.failures;
	t->account_locked = a.locked_until > now;
	return 0;
}

int auth_throttle_fail(struct sql *db, const struct mss_config *cfg, struct auth_throttle *t,
                       bool count_account, time_t now)
{
	struct auth_failure_key k[2] = {
	    {"client", t->client, cfg->auth_max_failures},
	    {"account", t->account, cfg->auth_account_max_failures},
	};
	char err[256];
	size_t n = count_account && t->account[0] ? 2 : 1;

	if (auth_store_fail(db, k, n, now, cfg->auth_failure_window, cfg->auth_lockout, err, sizeof(err)) < 0)
		return -1;
	return auth_throttle_read(db, cfg, t, now);
}

int auth_throttle_success(struct sql *db, const struct auth_throttle *t)
{
	if (t->account[0] == '\0' || (t->account_failures == 0 && !t->account_locked))
		return 0; /* nothing to forget: no write */
	return auth_store_clear(db, "account", t->account);
}

unsigned auth_throttle_delay(const struct mss_config *cfg, const struct auth_throttle *t)
{
	unsigned n = t->client_failures > t->account_failures ? t->client_failures : t->account_failures;

	if (n > DELAY_STEPS_MAX)
		n = DELAY_STEPS_MAX;
	return cfg->auth_failure_delay * n;
}

/* auth_throttle.h: password and token guessing slowed, then stopped, for every
 * process of both daemons at once (the role of Postfix's anvil).
 *
 * The counters live in the store (auth_store.h), not in one daemon's memory: every
 * session process of mss-smtpd and mss-imapd reads and writes the same rows, a restart
 * forgets nothing, and with a shared PostgreSQL store every host shares them (see
 * doc/architecture.md for the choice). Failures count within auth_failure_window, per
 * client address (an IPv6 client by its /64: one host holds a whole /64) and per
 * account named. Each failure is answered after auth_failure_delay milliseconds times
 * the failures so far (at most ten times). At auth_max_failures for the address, or
 * auth_account_max_failures for the account, that address or account is locked for
 * auth_lockout seconds: its password and token attempts are refused without being
 * checked. A success clears only the counter of the account that logged in, never the
 * address's (else a guesser would log in to an account of their own between guesses).
 * Certificate logins (EXTERNAL) are never counted nor refused here. */
#ifndef MSS_AUTH_THROTTLE_H
#define MSS_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/config.h"
#include "lib/sql.h"

struct auth_throttle {
	char client[80];   /* the client key: an IPv4 address, or an IPv6 /64 */
	char account[256]; /* the account key, "" when the attempt named none */
	unsigned client_failures, account_failures;
	bool client_locked, account_locked;
};

/* Fills t's keys from the client address and the account named (either may be "").
 * An account name that does not fit is cut: it can only be a guesser's. */
void auth_throttle_keys(struct auth_throttle *t, const char *client_ip, const char *account);
/* Reads the counters of t's keys at now. Returns 0 or -1. */
int auth_throttle_read(struct sql *db, const struct mss_config *cfg, struct auth_throttle *t, time_t now);
/* Records one failure of t's keys (count_account: also the account's), then reads the
 * counters again. Returns 0 or -1. */
int auth_throttle_fail(struct sql *db, const struct mss_config *cfg, struct auth_throttle *t,
                       bool count_account, time_t now);
/* A success of account: its counter is forgotten. Returns 0 or -1. */
int auth_throttle_success(struct sql *db, const struct auth_throttle *t);
/* Milliseconds to wait before answering a failure, from the counters. */
unsigned auth_throttle_delay(const struct mss_config *cfg, const struct auth_throttle *t);

#endif

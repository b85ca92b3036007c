/* auth_session.h: the web sessions of mss-webd, kept in the store.
 *
 * mss-webd forks one process per connection (lib/master.h), so a session cannot live
 * in one process's memory: it is a row of the table web_sessions (component "auth",
 * step 2), shared by every process and every host of a shared store, surviving a
 * restart. A session is named by a random 256-bit token that only the browser holds
 * (cookie); the table keeps its SHA-256, so a copy of the database opens no session.
 * Each session has its own random CSRF token, put in every form and compared in
 * constant time. A session unused for idle seconds is over (it is deleted when next
 * seen, and old rows are pruned at each login). */
#ifndef MSS_AUTH_SESSION_H
#define MSS_AUTH_SESSION_H

#include <stddef.h>
#include <time.h>

#include "lib/mss_limits.h"
#include "auth/auth.h"
#include "store/store.h"

#define AUTH_SESSION_TOKEN_LEN MSS_WEB_SESSION_TOKEN_LEN /* lib/mss_limits.h */

struct auth_session {
	char token[AUTH_SESSION_TOKEN_LEN + 1]; /* only after auth_session_create */
	char csrf[AUTH_SESSION_TOKEN_LEN + 1];
	char account[AUTH_ADDRESS_MAX];
};

/* Opens a session for account (already authenticated) from peer at now: fresh random
 * token and CSRF token in out. Sessions idle for longer than idle are pruned on the
 * way. Returns 0 or -1 with err. */
int auth_session_create(struct store *st, const char *account, const char *peer, time_t now, unsigned idle,
                        struct auth_session *out, char *err, size_t errlen);
/* Finds the session whose token is token and that was used within idle seconds of
 * now, and marks it used now. Returns 1 with out->account and out->csrf (out->token
 * copied), 0 when there is none (unknown, malformed, or idle too long or its account
 * disabled or deleted since the login: then deleted), -1 on a database error. */
int auth_session_find(struct store *st, const char *token, time_t now, unsigned idle,
                      struct auth_session *out);
/* Ends the session token (logout). Returns 0 (also when there was none) or -1. */
int auth_session_end(struct store *st, const char *token);
/* Ends every session of account except keep_token's (NULL or malformed: all of them):
 * after a password change. Returns 0 or -1 with err. */
int auth_session_end_others(struct store *st, const char *account, const char *keep_token, char *err,
                            size_t errlen);
/* True when given equals the session's CSRF token (constant time). */
bool auth_session_csrf_ok(const struct auth_session *s, const char *given);

#endif

/* smtp_auth.h: SMTP AUTH (RFC 4954) with SASL PLAIN (RFC 4616), LOGIN and EXTERNAL
 * (RFC 4422 appendix A), and the per-IP count of failed attempts.
 *
 * Failures are counted per client IP in a small table in shared memory that the
 * master maps before forking, so that opening new connections does not reset the
 * count. Each failure is answered after auth_failure_delay milliseconds; at
 * auth_max_failures within SMTP_AUTHFAIL_WINDOW seconds the session gets 421 4.7.0
 * and closes, and new AUTH attempts from that IP get the same until the window
 * passes. A successful login from the IP clears its count. */
#ifndef MSS_SMTP_AUTH_H
#define MSS_SMTP_AUTH_H

#include <time.h>

#define SMTP_AUTHFAIL_WINDOW 600 /* seconds a failure is remembered */
#define SMTP_AUTHFAIL_SLOTS 1024

struct smtp_authfail;

/* Maps the table (MAP_SHARED anonymous memory). Call in the master before forking.
 * Returns NULL when the mapping fails. */
struct smtp_authfail *smtp_authfail_new(void);
void smtp_authfail_free(struct smtp_authfail *t);
/* Failures recorded for ip within the window. */
unsigned smtp_authfail_count(struct smtp_authfail *t, const char *ip, time_t now);
/* Records one failure; returns the new count. */
unsigned smtp_authfail_add(struct smtp_authfail *t, const char *ip, time_t now);
void smtp_authfail_clear(struct smtp_authfail *t, const char *ip);

#endif

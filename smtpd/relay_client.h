/* relay_client.h: one SMTP client connection to another operator of the trust space
 * (DESIGN.md "Relay out to the trust space"), on libetpan's mailsmtp/mailesmtp over
 * relay_stream (our TLS). An open connection has: the server's 220 greeting, EHLO,
 * STARTTLS offered and done (no plaintext fallback), the server's certificate verified
 * by lib/tls (chain to tls_ca, validity, serverAuth, CRL) AND its subject DN listed
 * for the recipient's domain in the trust list (RDN comparison, trust_is_listed), and
 * EHLO again over TLS. Several messages may then go over it (one per relay_send).
 *
 * Timeouts per stage (RFC 5321 4.5.3.2): relay_timeout for the connection, greeting,
 * EHLO, STARTTLS, MAIL, RCPT, DATA and each block of data; twice it for the reply to
 * the final dot (the RFC's 10 minutes against 5). */
#ifndef MSS_RELAY_CLIENT_H
#define MSS_RELAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "lib/dsn.h"
#include "lib/tls.h"
#include "queue/queue.h"
#include "smtpd/relay_hop.h"
#include "smtpd/relay_reply.h"
#include "store/store.h"

struct relay_conn;

/* The outcome for one recipient, or for the connection. */
struct relay_result {
	enum relay_verdict verdict;
	char reply[QUEUE_REPLY_SIZE]; /* "550 5.1.1 ..." or the local reason */
};

/* Opens the connection to hop for domain. Returns it, or NULL with *why filled
 * (verdict temporary, except a 5yz greeting: permanent). */
struct relay_conn *relay_open(struct store *st, struct tls_ctx *ctx, const struct mss_config *cfg,
                              const char *domain, const struct relay_hop *hop, struct relay_result *why);
/* The peer's verified subject DN (for the audit record). */
const char *relay_peer_dn(const struct relay_conn *c);
/* The next hop's name (Remote-MTA of a report). */
const char *relay_peer_host(const struct relay_conn *c);
/* Whether the peer offered DSN (RFC 3461) after STARTTLS: the DSN parameters went to it
 * with the message, and it reports success itself. */
bool relay_peer_dsn(const struct relay_conn *c);

/* One message's envelope as it leaves. */
struct relay_envelope {
	const char *mail_from;
	unsigned flags;             /* the queued envelope's options (queue.h QUEUE_*) */
	const struct dsn_mail *dsn; /* RET, ENVID (zero: none) */
	const char *const *rcpts;
	const struct dsn_rcpt *rcpt_dsn; /* NOTIFY, ORCPT, rcpts' order */
	size_t n;
};

/* Sends one message to env's n recipients: res[i] gets each one's outcome (the RCPT
 * reply, or the final reply when the RCPT was taken). env->flags: MAIL carries
 * SMTPUTF8 and REQUIRETLS when set; a next hop that did not offer them in its EHLO over
 * TLS gets nothing and every recipient fails for good (5.7.30 for REQUIRETLS, RFC 8689
 * 5; 5.6.7 for SMTPUTF8, RFC 6531 3.2: no downgrade). The DSN parameters go when the
 * peer offers DSN (a peer that does not gets none: RFC 3461 5.2's "relayed" is the
 * caller's report). Returns 0 when the connection may carry another message, -1 when
 * it is unusable (lost, timed out, out of step). */
int relay_send(struct relay_conn *c, const struct relay_envelope *env, const char *data, size_t len,
               struct relay_result *res);
/* RSET before a kept connection carries the next batch (relay_connection_reuse_time):
 * returns 0 when the peer answered 250, -1 when it closed the connection meanwhile or
 * answered otherwise (the caller closes it and opens another). */
int relay_reset(struct relay_conn *c);
/* QUIT (best effort) and close. NULL is fine. */
void relay_close(struct relay_conn *c);

#endif

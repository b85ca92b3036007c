/* vault_message.h: the message being delivered, as the vault and the policy see it.
 *
 * The vault files what a delivery carries, so the description of that delivery (who
 * sent it and how they proved it, the envelope, the bytes) lives here, below policy/,
 * and policy/ includes it. The names keep their policy_ prefix: mss-smtpd fills these
 * structs through policy.h as before. */
#ifndef MSS_VAULT_MESSAGE_H
#define MSS_VAULT_MESSAGE_H

#include <stddef.h>

enum sender_auth {
	SENDER_ANONYMOUS = 0, /* nothing proven (MX without a trusted certificate) */
	SENDER_PASSWORD,      /* SASL PLAIN/LOGIN on submission */
	SENDER_CERTIFICATE,   /* SASL EXTERNAL / client certificate mapped to a local account */
	SENDER_OPERATOR,      /* MX peer whose server certificate DN is on the trust list */
	SENDER_RELAY_CERT,    /* establishment relay: client cert mapped to an organisation */
	SENDER_RELAY_SPF,     /* establishment relay: relay_networks + SPF pass */
};

struct policy_sender {
	enum sender_auth auth;
	char account[256]; /* authenticated local account address, "" when none */
	char peer_ip[64];
	char tls_subject_dn[512]; /* verified peer certificate subject DN, "" when none */
	char listener[32];        /* "smtp", "submission", "submissions" */
};

/* The fixed word the audit log records for a, "unknown" when out of range. */
const char *policy_auth_name(enum sender_auth a);

/* An accepted message on its way to its local recipients (policy_deliver). */
struct policy_message {
	const struct policy_sender *sender;
	const char *mail_from;
	const char *const *rcpts;
	size_t nrcpt;
	const char *data; /* full message, CRLF lines, with Received: etc. already added */
	size_t len;
	const char *queue_id;
};

#endif

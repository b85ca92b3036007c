/* smtp_auth.h: SMTP AUTH (RFC 4954): the 334 framing of the SASL exchange of
 * auth/sasl.h. Which mechanisms, which rules, the throttling and the audit are all
 * auth/'s; this file only speaks SMTP. */
#ifndef MSS_SMTP_AUTH_H
#define MSS_SMTP_AUTH_H

#include "auth/sasl.h"
#include "smtpd/smtp_session.h"

/* What the session offers now (for EHLO and AUTH alike). */
void smtp_auth_offer(const struct smtp_session *s, struct sasl_offer *o);
/* After TLS: asks auth/ which account the verified client certificate maps to, for
 * EXTERNAL and for establishment relays on the MX (s->cert_mapped, s->cert_account). */
void smtp_auth_map_certificate(struct smtp_session *s);
/* Records the account of a successful authentication (rp) in s (no reply). */
void smtp_auth_logged_in(struct smtp_session *s, const struct auth_reply *rp);

#endif

/* identity.h: a sender may send only as who it proved to be (DESIGN.md "Who connects,
 * and how"), on every port, in the envelope and in the header alike.
 *
 * The identity proven, by how the session authenticated (struct policy_sender):
 * - a local account (password, certificate, token; SENDER_PASSWORD, _CERTIFICATE,
 *   _TOKEN): exactly its address;
 * - an establishment relay by certificate (SENDER_RELAY_CERT): exactly the address of
 *   the organisation account the certificate maps to;
 * - an establishment relay by network and SPF (SENDER_RELAY_SPF): addresses in the
 *   domain SPF vouched for, never a domain served here (so never an account here);
 * - an operator (SENDER_OPERATOR): addresses in the domains the trust list binds to its
 *   certificate's DN, never a domain served here.
 * MAIL FROM and every address of every From and Sender header field must be that
 * identity; MAIL FROM:<> (bounces, receipts) is allowed. A disabled account, or an
 * address whose directory entry the administrator made inactive, cannot send.
 * Refusals are 550 5.7.1 whose text names the rule; each function gives a short fixed
 * word for the audit record (*why).
 *
 * The header check works on the addresses already extracted from the message (the
 * delivery pipeline parses a message once); it never parses anything itself. */
#ifndef MSS_IDENTITY_H
#define MSS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth_sender.h"
#include "lib/config.h"
#include "lib/status.h"
#include "store/store.h"

/* MAIL FROM. Returns 0 accepted, 1 refused (st filled), -1 on a database error (st:
 * 451 4.3.0). */
int identity_check_mail(struct store *st, const struct mss_config *cfg, struct policy_sender *s,
                        const char *mail_from, struct mss_status *out, const char **why);
/* Is an operator s listed for domain? 1 yes, 0 no, -1 database error. The trust list
 * is read once per transaction for the MAIL FROM domain (s->listed_domain). */
int identity_operator_listed(struct store *st, const struct policy_sender *s, const char *domain);

/* The author fields of a message header (RFC 5322 3.6.2). */
struct identity_header {
	const char *const *from; /* every address of every From field, in order */
	size_t nfrom;
	const char *const *sender; /* every address of every Sender field */
	size_t nsender;
	/* Their display names, decoded (RFC 2047) to UTF-8, "" when none; NULL when the
	 * caller has none to give. A name that holds an address (local@domain) other than
	 * its mailbox's own is refused: many clients show only the name, so
	 * "dr.durand@... <dr.martin@...>" would show Dr Durand as the author. */
	const char *const *from_names;
	const char *const *sender_names;
	/* The text a reader shows of the From fields and of the Sender fields, comments
	 * included (msg_field_text), NULL when the caller has none: an address in it other
	 * than one of the field's own addresses is refused as a name would be, since many
	 * readers show "dr.martin@... (dr.durand@...)" as from Dr Durand. */
	const char *from_text;
	const char *sender_text;
	bool unreadable; /* a From or Sender field that does not parse as addresses (or too many) */
};

/* The header. A message without From is not refused here (it claims no author).
 * Same returns as identity_check_mail. */
int identity_check_header(struct store *st, const struct mss_config *cfg, const struct policy_sender *s,
                          const char *mail_from, const struct identity_header *h, struct mss_status *out,
                          const char **why);

/* REFERENCE.md: "X-MSS-MES: FIN" (or the subject "[FIN]") ends an exchange. It counts
 * only when it comes from the contact itself: contact (the address the patient replies
 * to) must be the message's author (header_from, or the sender's identity when the
 * message has no From) and, for a local sender, its own account. */
bool identity_may_close(const struct policy_sender *s, const char *header_from, const char *contact);

#endif

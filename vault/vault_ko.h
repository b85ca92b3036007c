/* vault_ko.h: the integration error report a sender receives (vault_ko.c). */
#ifndef MSS_VAULT_KO_H
#define MSS_VAULT_KO_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* One original attachment the report carries back. */
struct vault_ko_attachment {
	const char *mime;
	const char *filename;
	const char *data;
	size_t len;
};

struct vault_ko {
	const char *sender;        /* who receives it (the authenticated sender, else MAIL FROM) */
	const char *patient;       /* the recipient the report is about */
	const char *audit_patient; /* the patient column of its audit record ("" keeps it out of the
	                              patient's history) */
	const char *subject;       /* the original subject (msg_header.subject: under 1024 bytes) */
	const char *message_id;    /* the original Message-ID, without brackets */
	int code;                  /* 900...906 */
	bool refused;              /* documents were refused by the filing */
	bool withheld;             /* parts were withheld from the patient's copy without being filed */
	const struct vault_ko_attachment *attach;
	size_t nattach;
	unsigned notify; /* the recipient's DSN NOTIFY (lib/dsn.h; 0: none given) */
};

/* Sends the report to ko->sender's mailbox when the sender has one here, or into the
 * outbound queue when the sender is at another operator of the trust space, and audits
 * it (vault.ko). A failure found after the 250, it follows the recipient's NOTIFY as a
 * DSN would (RFC 3461 4.1): none unless failures are asked for (the default). Returns
 * 0 sent or queued, 1 not sent (NOTIFY, or an unknown sender outside the trust space:
 * audited as not sent), -1 on an error (logged). */
int vault_send_ko(struct store *store, const struct vault_ko *ko);

#endif

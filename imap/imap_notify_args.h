/* imap_notify_args.h: the arguments of NOTIFY (RFC 5465 8, the formal syntax).
 *
 *   notify        = "NOTIFY" SP (notify-set / notify-none)
 *   notify-none   = "NONE"
 *   notify-set    = "SET" [status-indicator] SP event-groups
 *   event-groups  = event-group *(SP event-group)
 *   event-group   = "(" filter-mailboxes SP events ")"
 *   filter-mailboxes = "SELECTED" / "SELECTED-DELAYED" / "INBOXES" / "PERSONAL" /
 *                      "SUBSCRIBED" / ("SUBTREE" SP one-or-more-mailbox) /
 *                      ("MAILBOXES" SP one-or-more-mailbox)
 *   events        = ("(" event *(SP event) ")") / "NONE"
 *   event         = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] /
 *                   "MessageExpunge" / "FlagChange" / "AnnotationChange" /
 *                   "MailboxName" / "SubscriptionChange" / "MailboxMetadataChange" /
 *                   "ServerMetadataChange"
 *
 * A pure parser (fuzzed, unit tested): parsed arguments in (imap/imap_parser.h), the
 * request out, pointing into those arguments. Which events the server supports, and
 * what the mailbox names mean, are the caller's business: events it does not support
 * are reported in `unsupported` (tagged NO [BADEVENT ...], RFC 5465 3.1). Rules of the
 * RFC checked here: MessageNew and MessageExpunge go together for the selected
 * mailbox, FlagChange and AnnotationChange need them there (5.2 to 5.4), only message
 * events for it, named at most once (6.1), fetch attributes only for it. As Dovecot
 * (and imaptest's notify test), other mailboxes may take any one event alone. */
#ifndef MSS_IMAP_NOTIFY_ARGS_H
#define MSS_IMAP_NOTIFY_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap_parser.h"

/* Events (bits). */
#define IMAP_NOTIFY_MESSAGE_NEW 0x01u
#define IMAP_NOTIFY_MESSAGE_EXPUNGE 0x02u
#define IMAP_NOTIFY_FLAG_CHANGE 0x04u
#define IMAP_NOTIFY_ANNOTATION_CHANGE 0x08u
#define IMAP_NOTIFY_MAILBOX_NAME 0x10u
#define IMAP_NOTIFY_SUBSCRIPTION_CHANGE 0x20u
#define IMAP_NOTIFY_MAILBOX_METADATA_CHANGE 0x40u
#define IMAP_NOTIFY_SERVER_METADATA_CHANGE 0x80u
#define IMAP_NOTIFY_MESSAGE_EVENTS                                                                           \
	(IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE)
#define IMAP_NOTIFY_NAME_EVENTS (IMAP_NOTIFY_MAILBOX_NAME | IMAP_NOTIFY_SUBSCRIPTION_CHANGE)

enum imap_notify_filter {
	IMAP_NOTIFY_INBOXES,
	IMAP_NOTIFY_PERSONAL,
	IMAP_NOTIFY_SUBSCRIBED,
	IMAP_NOTIFY_SUBTREE,
	IMAP_NOTIFY_MAILBOXES,
};

#define IMAP_NOTIFY_GROUPS_MAX 16 /* event groups in one NOTIFY SET */
#define IMAP_NOTIFY_NAMES_MAX 64  /* mailbox names in one SUBTREE / MAILBOXES group */

struct imap_notify_group {
	enum imap_notify_filter filter;
	unsigned events;                                     /* IMAP_NOTIFY_* bits; 0 for NONE */
	const struct imap_arg *names[IMAP_NOTIFY_NAMES_MAX]; /* SUBTREE / MAILBOXES: astrings */
	size_t nnames;
};

struct imap_notify_request {
	bool none;             /* NOTIFY NONE */
	bool status;           /* SET STATUS: a STATUS now for every mailbox named (RFC 5465 3.1) */
	bool selected;         /* SELECTED or SELECTED-DELAYED was given */
	bool selected_delayed; /* SELECTED-DELAYED: expunges wait for a command that allows them */
	unsigned selected_events;
	const struct imap_arg *fetch_att; /* MessageNew's fetch attributes (a list), or NULL */
	struct imap_notify_group groups[IMAP_NOTIFY_GROUPS_MAX];
	size_t ngroups;
	unsigned unsupported; /* events asked for that supported (the caller's mask) lacks */
};

/* The name of one event bit ("MessageNew"), NULL for none. */
const char *imap_notify_event_name(unsigned bit);
/* Parses the nargs arguments after "NOTIFY". supported: the events the caller
 * implements. Returns 0 (check r->unsupported), or -1 with err for BAD. */
int imap_notify_parse(const struct imap_arg *args, size_t nargs, unsigned supported,
                      struct imap_notify_request *r, const char **err);

#endif

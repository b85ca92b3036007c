/* imap_qresync.h: QRESYNC (RFC 7162 3.2): SELECT/EXAMINE (QRESYNC ...) and the
 * VANISHED (EARLIER) answers of SELECT and of UID FETCH (CHANGEDSINCE n VANISHED).
 * The untagged VANISHED that replaces EXPUNGE once enabled is imap_view.c's. */
#ifndef MSS_IMAPD_QRESYNC_H
#define MSS_IMAPD_QRESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"

struct imap_session;

/* What the client knows of the mailbox it selects (RFC 7162 3.2.5). */
struct imap_qresync {
	bool on;              /* the QRESYNC parameter was given */
	uint32_t uidvalidity; /* as the client last saw it */
	uint64_t modseq;      /* the HIGHESTMODSEQ it last saw */
	bool has_known;       /* known-uids given */
	struct imap_seqset known;
};

/* Parses SELECT/EXAMINE's parameter list "(CONDSTORE)" / "(QRESYNC (uidvalidity modseq
 * [known-uids [(seq-match)]]))" (RFC 7162 3.1.8, 3.2.5) into q (CONDSTORE is enabled
 * here). The seq-match pairs are checked for syntax and not used: the expunged table
 * answers exactly without them. QRESYNC before ENABLE QRESYNC is an error (RFC 7162
 * 3.2.5). Returns 0, or -1 with *err for BAD; imap_qresync_free in both cases. */
int imap_qresync_parse(struct imap_session *s, const struct imap_arg *params, struct imap_qresync *q,
                       const char **err);
void imap_qresync_free(struct imap_qresync *q);

/* After SELECT's untagged responses, when q->on and the UIDVALIDITY is unchanged:
 * "* VANISHED (EARLIER) set" of the known UIDs expunged since q->modseq, then
 * "* n FETCH (UID FLAGS MODSEQ)" of the known messages changed since. q->known is
 * resolved against the mailbox ('*') on the way. */
void imap_qresync_select(struct imap_session *s, struct imap_qresync *q);

/* UID FETCH set (CHANGEDSINCE since VANISHED): "* VANISHED (EARLIER) set" of the UIDs
 * of set expunged since, before the FETCH responses (RFC 7162 3.2.6). The set was
 * already checked by imap_view_resolve. */
void imap_qresync_vanished(struct imap_session *s, const char *set, uint64_t since);

#endif

/* imap_search_eval.h: evaluating SEARCH keys on the selected mailbox, and writing the
 * results; shared by SEARCH, SORT and THREAD (and CONTEXT updates). */
#ifndef MSS_IMAP_SEARCH_EVAL_H
#define MSS_IMAP_SEARCH_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_search.h"
#include "imapd/imap_session.h"

#define IMAP_SEARCH_TOO_LONG (-2)      /* past imap_search_timeout: cut */
#define IMAP_SEARCH_TOO_MANY_KEYS (-3) /* more keys than imap_max_search_keys */
#define IMAP_SEARCH_NOMODSEQ (-4)      /* MODSEQ in a shared vault view (RFC 7162 3.1.2) */

/* The view indexes of the messages that match q (ascending, malloc'ed into *idx).
 * Resolves '*' in q's sets against the view (q is changed). Enables CONDSTORE when q
 * uses MODSEQ. Returns 0, -1 on a store error (logged), IMAP_SEARCH_TOO_MANY_KEYS or
 * IMAP_SEARCH_NOMODSEQ (nothing evaluated) or IMAP_SEARCH_TOO_LONG (*idx NULL, *n 0
 * then). */
int imap_search_eval(struct imap_session *s, struct imap_search_query *q, size_t **idx, size_t *n);
/* The tagged NO for imap_search_eval's failure rc: [LIMIT] for a limit (the session
 * goes on), BAD for MODSEQ in a shared view, [SERVERBUG] otherwise; what names the command ("Search",
 * "Sort"). */
void imap_search_refuse(struct imap_session *s, const char *tag, int rc, const char *what);
/* Writes "* SEARCH ..." or "* ESEARCH ..." for the matches idx[0..n) in the order given
 * (UIDs for UID commands), and keeps the result for "$" when SAVE is asked. */
void imap_search_answer(struct imap_session *s, struct imap_command *c, struct imap_search_query *q,
                        const size_t *idx, size_t n);
/* "* ESEARCH (TAG ...) [UID] MIN/MAX/COUNT/ALL/PARTIAL [MODSEQ]" for the numbers v. */
void imap_esearch_write(struct imap_session *s, const char *tag, bool uid, const uint32_t *v, size_t n,
                        const struct imap_search_query *q, uint64_t modseq);
/* The positions PARTIAL lo:hi names in a result of n: [*start, *start + *count). */
void imap_partial_window(int32_t lo, int32_t hi, size_t n, size_t *start, size_t *count);

#endif

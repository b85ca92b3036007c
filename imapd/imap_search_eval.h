/* imap_search_eval.h: evaluating SEARCH keys on the selected mailbox, and writing the
 * results; shared by SEARCH, SORT and THREAD (and CONTEXT updates). */
#ifndef MSS_IMAP_SEARCH_EVAL_H
#define MSS_IMAP_SEARCH_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_search.h"
#include "imapd/imap_session.h"

/* The view indexes of the messages that match q (ascending, malloc'ed into *idx).
 * Resolves '*' in q's sets against the view (q is changed). Enables CONDSTORE when q
 * uses MODSEQ. Returns 0, or -1 on a store error (logged). */
int imap_search_eval(struct imap_session *s, struct imap_search_query *q, size_t **idx, size_t *n);
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

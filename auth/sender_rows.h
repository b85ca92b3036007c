/* sender_rows.h: the sender's own account and directory entry, read once per SMTP
 * transaction (struct policy_sender's rows).
 *
 * MAIL, RCPT, the header check and the delivery's records each asked the database
 * for the same two rows: the sender's account and national directory entry, four
 * and three times per message. MAIL reads them once into the sender; the later
 * questions of the same transaction take them from there. mss-smtpd fills the sender
 * afresh at every MAIL and clears it when the transaction ends, so a disabled
 * account or a directory update is seen at the next MAIL at the latest. Any other
 * address, or a sender without rows (another caller), is read from the database. */
#ifndef MSS_SENDER_ROWS_H
#define MSS_SENDER_ROWS_H

#include "auth/auth_sender.h"
#include "store/store.h"

/* Reads address's account and directory entry into s->rows. Returns 0, or -1 on a
 * database error (s->rows then left empty). */
int sender_rows_read(struct store *st, struct policy_sender *s, const char *address);

/* account_get and dir_entry_get (same returns), from s's rows when they are
 * address's; s may be NULL. */
int sender_account(struct store *st, const struct policy_sender *s, const char *address, struct account *out);
int sender_dir_entry(struct store *st, const struct policy_sender *s, const char *address,
                     struct dir_entry *out);

#endif

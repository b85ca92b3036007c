/* imap_kick.h: a logged-in session ends at once when an administrator disables or
 * deletes its account, replaces its password or its certificate (mssctl account
 * disable|delete|passwd|set-cert, the patient's own change in mss-webd, retention's
 * deletion): as Dovecot's `doveadm kick`, a stolen password's (or certificate's) thief
 * stops reading then, not at logout.
 *
 * Those writers wake the account's sessions (store_account_wake, after the commit);
 * the session polls that watch beside its socket between commands and in IDLE, and
 * once woken reads its account again (one statement, only then: none per command,
 * issue 15). The account gone (or another one under its address), disabled, or, for a
 * login that used the password, a password hash other than the one at login, or, for
 * one that used a certificate (EXTERNAL, or password + certificate), registered
 * fingerprints other than at login: "* BYE" and the session ends (imap.kicked, one
 * line). A certificate login is not ended by a new password, a password login not by
 * a new certificate; a token login only by disable and delete. A professional whose
 * directory entry became inactive (mssctl directory disable, struck off by an import:
 * they wake him too) and who has a patient's shared folder selected gets "* BYE Access
 * to this folder was withdrawn", as for a revocation (imap_view_sync).
 *
 * Best effort, as a mailbox's wake: a lost wake, or a watch that could not be opened,
 * leaves the session to what its commands check anyway: the vault's reads
 * (vault_may_read joins accounts.disabled) and a deleted account's mailboxes, gone. */
#ifndef MSS_IMAP_KICK_H
#define MSS_IMAP_KICK_H

#include "imapd/imap_session.h"

/* At login, in the process that holds the store: opens the watch, then reads the
 * account (a change after the read wakes the watch). */
void imap_kick_arm(struct imap_session *s, bool by_password, bool by_cert);
void imap_kick_disarm(struct imap_session *s);
/* conn_wait_readable on s's connection and fd (or -1), also watching the account: a
 * wake that finds the session ended returns -1 with BYE written and close_after_reply
 * set; one that finds it still good waits on. Returns as conn_wait_readable. */
int imap_wait(struct imap_session *s, int fd, int timeout_ms);

#endif

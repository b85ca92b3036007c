/* auth_password.h: a patient changes their own password (mss-webd).
 *
 * The caller has just verified the current password through auth_verify (so the
 * attempt is throttled and audited like any login). The new one must meet the rule
 * mssctl applies (account_password_allowed: password_min_length characters). The
 * change, the end of the account's other web sessions (whoever else holds one is out
 * at once) and its audit record ("account.password", actor the account itself, with
 * the patient so that it shows in the history) happen in one write transaction: all
 * or nothing. Sessions of IMAP and SMTP are not held in the store: they end when the
 * client next authenticates. */
#ifndef MSS_AUTH_PASSWORD_H
#define MSS_AUTH_PASSWORD_H

#include <stddef.h>

#include "lib/config.h"
#include "store/store.h"

/* Replaces account's password with password, ends every web session of account but
 * keep_token's (NULL: all), and audits it from peer. Returns 0, 1 refused with err
 * (too short), -1 error with err. */
int auth_password_change(struct store *st, const struct mss_config *cfg, const char *account,
                         const char *peer, const char *keep_token, const char *password, char *err,
                         size_t errlen);

#endif

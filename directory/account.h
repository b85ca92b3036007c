/* account.h: local accounts (patients, professionals, organisations).
 *
 * Results are copied into plain structs; nothing here hands out database pointers.
 * Functions take the process's store (its connection holds the accounts). */
#ifndef MSS_ACCOUNT_H
#define MSS_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum account_role { ROLE_PATIENT = 1, ROLE_PROFESSIONAL = 2, ROLE_ORGANISATION = 3 };

/* A digest of an account's password hash (account_stamp below). */
#define ACCOUNT_STAMP_SIZE 16

struct account {
	int64_t id;
	char address[256]; /* lowercase */
	enum account_role role;
	char name[128];
	char rpps[32];
	char finess[32];
	bool has_password;
	bool disabled;
	int64_t created;          /* unix time */
	int64_t last_login;       /* unix time of the last successful login (to the hour), 0: never */
	int64_t retention_warned; /* when last warned of deletion for inactivity, 0: never */
	/* a digest of the password hash as read (account_stamp), all zero without one: a
	 * session that logged in with the password compares it later (submission's MAIL) */
	unsigned char password_stamp[ACCOUNT_STAMP_SIZE];
	/* the same of its registered certificate fingerprints (ACCOUNT_CERTS_TEXT): a
	 * session that logged in with a certificate compares it later */
	unsigned char cert_stamp[ACCOUNT_STAMP_SIZE];
};

/* "patient" -> ROLE_PATIENT; 0 when unknown. */
enum account_role account_role_parse(const char *s);
const char *account_role_name(enum account_role r);

/* Adds an account with its store side (key, INBOX, Sent, Drafts, Trash), all or
 * nothing: in its own write transaction, or inside the caller's. password may be NULL
 * (no password login). cert_sha256 may be NULL or 64 hex digits. Returns 0; 1 when
 * refused (err says why: duplicate address or certificate, bad address, bad
 * fingerprint); -1 on a database error. */
int account_add(struct store *st, const struct account *a, const char *password, const char *cert_sha256,
                char *err, size_t errlen);
/* Loads by address (case-insensitive). Returns 1 found, 0 not found, -1 error. */
int account_get(struct store *st, const char *address, struct account *out);
/* Loads the account a verified client certificate maps to: by registered SHA-256
 * fingerprint, else by its subjectAltName email. Returns 1, 0 (no account), -1. */
int account_by_cert(struct store *st, const char *sha256, const char *email, struct account *out);
/* Checks a password login. Returns 1 (out filled) on success, 0 on failure (unknown
 * address, disabled, no password, wrong password: same timing for all), -1 error. */
int account_check_password(struct store *st, const char *address, const char *password, struct account *out);
/* Calls fn for each account in address order. Returns 0 or -1. */
int account_foreach(struct store *st, int (*fn)(const struct account *a, void *arg), void *arg);
/* Marks disabled and wakes its sessions (store_account_wake), as account_set_password
 * and account_remove do. Returns 0, 1 when there is no such account, -1 error. */
int account_disable(struct store *st, const char *address, char *err, size_t errlen);
/* Certificate fingerprints are accepted as plain hex or colon-separated (openssl's
 * form): writes 64 lowercase hex digits into out. Returns 0, or -1 when in is not a
 * SHA-256 fingerprint. */
int account_fingerprint(const char *in, char out[65]);

/* account_edit.c. Each returns 0, 1 when there is no such account (or, for set_cert,
 * the fingerprint is bad or another account's: err says which), -1 on error. */
int account_enable(struct store *st, const char *address, char *err, size_t errlen);
/* Replaces the password (Argon2id); the caller checks account_password_allowed. */
int account_set_password(struct store *st, const char *address, const char *password, char *err,
                         size_t errlen);
/* Replaces every registered fingerprint with this one, in its own transaction. */
int account_set_cert(struct store *st, const char *address, const char *cert_sha256, char *err,
                     size_t errlen);
/* Deletes the account row and its fingerprints, inside the caller's write transaction
 * (policy_account_delete removes the rest: mailboxes, vault, contacts); its sessions are
 * woken at the caller's store_notify_flush. */
int account_remove(struct store *st, const char *address, char *err, size_t errlen);

/* A login is recorded to the hour: last_login moves only when the one recorded is at
 * least this many seconds old. */
#define ACCOUNT_LOGIN_RESOLUTION 3600
/* Records a successful login at now (retention). Writes at most once an hour per
 * account (ACCOUNT_LOGIN_RESOLUTION), so a busy account costs no write per login; a
 * caller that has just read the account skips the call when its last_login is recent
 * (the UPDATE would still take the write lock). Returns 0 or -1 with err. */
int account_touch_login(struct store *st, int64_t account_id, int64_t now, char *err, size_t errlen);
/* Records that the account was warned of deletion at when. Returns 0 or -1 with err. */
int account_set_warned(struct store *st, int64_t account_id, int64_t when, char *err, size_t errlen);

/* Rules for what mssctl creates. A password must have at least password_min_length
 * characters (UTF-8). A professional or organisation must be in domains and not in
 * patient_domain (patients are not checked: any address the administrator gives in
 * the patient domain, DESIGN.md). Each returns 0 when allowed, 1 with err saying why. */
int account_password_allowed(const struct mss_config *cfg, const char *password, char *err, size_t errlen);
int account_address_allowed(const struct mss_config *cfg, const char *address, enum account_role role,
                            char *err, size_t errlen);

/* What a logged-in session compares when woken (imapd, imap_kick.c): the account's
 * id, whether it is disabled, a digest of its password hash (a replaced password,
 * even the same one, has a new salt and so a new digest; all zero without one) and one
 * of its registered certificate fingerprints (mssctl account set-cert changes it; the
 * same fingerprint set again does not). The hash itself never leaves this function.
 * Returns 1, 0 no such account, -1 error. */
struct account_stamp {
	int64_t id;
	bool disabled;
	unsigned char password[ACCOUNT_STAMP_SIZE];
	unsigned char certs[ACCOUNT_STAMP_SIZE];
};
/* The SQL expression (in a query on accounts) whose digest is the certificate stamp:
 * how many fingerprints, and the greatest (set-cert replaces them all with one). */
#define ACCOUNT_CERTS_TEXT                                                                                   \
	"(SELECT CAST(count(*) AS TEXT) || ':' || coalesce(max(c.sha256), '') FROM account_certs c"          \
	" WHERE c.account_id = accounts.id)"
int account_stamp(struct store *st, const char *address, struct account_stamp *out);
/* That digest of hash (NULL: all zero). */
void account_password_stamp(const char *hash, unsigned char out[ACCOUNT_STAMP_SIZE]);

/* Lists registered fingerprints into out (space separated). Returns 0 or -1. */
int account_cert_list(struct store *st, int64_t account_id, char *out, size_t outlen);

#endif

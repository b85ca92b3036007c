/* imap_quota.c: QUOTA (RFC 9208) with the STORAGE resource.
 *
 * One quota root per account, named "" (RFC 9208 examples; Dovecot names its root
 * after the user): every mailbox of the account is under it, with the limit
 * quota_storage (mss.conf(5)). Usage is the sum of RFC822.SIZE of the account's
 * messages, read from the store when asked (store_quota_usage). A patient's vault seen
 * by a professional has no quota root for that professional: its usage is the
 * patient's. SETQUOTA is refused: the limit is the administrator's configuration. */
#include <string.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define QUOTA_ROOT "" /* the account's one root */

/* RFC 9208 5.1: STORAGE counts units of 1024 octets; use is rounded up. */
static void write_quota(struct imap_session *s, uint64_t used)
{
	conn_printf(s->conn, "* QUOTA \"%s\" (STORAGE %llu %llu)\r\n", QUOTA_ROOT,
	            (unsigned long long)((used + 1023) / 1024),
	            (unsigned long long)(s->cfg->quota_storage / 1024));
}

int imap_quota_check(struct imap_session *s, uint64_t adding, uint64_t *used)
{
	if (s->cfg->quota_storage == 0)
		return 0;
	char err[256];
	uint64_t octets, messages;
	if (*used == UINT64_MAX) {
		if (store_quota_usage(s->store, s->account.address, &octets, &messages, err, sizeof(err)) <
		    0) {
			log_err("imap.store", "user=%s op=quota error=\"%s\"", s->account.address, err);
			return -1;
		}
		*used = octets;
	}
	return *used + adding > s->cfg->quota_storage ? 1 : 0;
}

void cmd_getquota(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 1 || imap_arg_astring(&c->args[0]) == NULL) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_QUOTA_ROOT, c->name);
		return;
	}
	if (s->cfg->quota_storage == 0 || strcmp(imap_arg_astring(&c->args[0]), QUOTA_ROOT) != 0) {
		imap_send(s, c->tag, IMAP_R_NO_QUOTA_ROOT);
		return;
	}
	uint64_t used = UINT64_MAX;
	if (imap_quota_check(s, 0, &used) < 0) {
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		return;
	}
	write_quota(s, used);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_getquotaroot(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	int rc = c->nargs == 1 ? imap_mailbox_arg(s, &c->args[0], name, sizeof(name)) : -1;
	if (rc == -1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	struct store_mailbox mb;
	if (rc == 0 && !imap_vault_name(name))
		rc = store_mailbox_get(s->store, s->account.address, name, &mb, err, sizeof(err)) == 1 ? 0
		                                                                                       : -2;
	if (rc == -2) {
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
		return;
	}
	uint64_t used = UINT64_MAX;
	bool root = s->cfg->quota_storage != 0 && !imap_vault_name(name);
	if (root && imap_quota_check(s, 0, &used) < 0) {
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		return;
	}
	conn_puts(s->conn, "* QUOTAROOT ");
	imap_write_mailbox(s, name);
	conn_puts(s->conn, root ? " \"" QUOTA_ROOT "\"\r\n" : "\r\n");
	if (root)
		write_quota(s, used);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_setquota(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 2 || c->args[1].type != IMAP_ARG_LIST) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_SETQUOTA, c->name);
		return;
	}
	imap_send(s, c->tag, IMAP_R_NOPERM_QUOTA);
}

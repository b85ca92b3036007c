/* imap_cmd.c: the command table, the capability table and the dispatcher. */
#include "imapd/imap_cmd.h"

#include <string.h>

#include "imapd/imap_notify.h"
#include "imapd/imap_vault.h"
#include "vault/vault_access.h"
#include "auth/sasl.h"
#include "lib/str.h"

#define S_NA IMAP_STATE_NOT_AUTH
#define S_AU IMAP_STATE_AUTH
#define S_SE IMAP_STATE_SELECTED
#define S_ANY (S_NA | S_AU | S_SE)
#define S_AUTHED (S_AU | S_SE)

static const struct imap_cmd_def cmd_table[] = {
    /* any state (RFC 9051 6.1) */
    {"CAPABILITY", cmd_capability, S_ANY, CMD_NO_VIEW},
    {"NOOP", cmd_noop, S_ANY, CMD_NO_VIEW},
    {"LOGOUT", cmd_logout, S_ANY, CMD_NO_SYNC | CMD_NO_VIEW},
    {"ID", cmd_id, S_ANY, CMD_NO_VIEW},
    /* not authenticated (6.2) */
    {"STARTTLS", cmd_starttls, S_NA, 0},
    {"AUTHENTICATE", cmd_authenticate, S_NA, 0},
    {"LOGIN", cmd_login, S_NA, 0},
    /* authenticated (6.3) */
    {"ENABLE", cmd_enable, S_AUTHED, 0},
    {"SELECT", cmd_select, S_AUTHED, CMD_NO_VIEW},
    {"EXAMINE", cmd_select, S_AUTHED, CMD_NO_VIEW},
    {"CREATE", cmd_create, S_AUTHED, 0},
    {"DELETE", cmd_delete, S_AUTHED, 0},
    {"RENAME", cmd_rename, S_AUTHED, 0},
    {"SUBSCRIBE", cmd_subscribe, S_AUTHED, 0},
    {"UNSUBSCRIBE", cmd_subscribe, S_AUTHED, 0},
    {"LIST", cmd_list, S_AUTHED, CMD_NO_VIEW},
    {"LSUB", cmd_list, S_AUTHED, CMD_NO_VIEW},
    {"NAMESPACE", cmd_namespace, S_AUTHED, CMD_NO_VIEW},
    {"STATUS", cmd_status, S_AUTHED, CMD_NO_VIEW},
    {"APPEND", cmd_append, S_AUTHED, CMD_STREAM},
    {"IDLE", cmd_idle, S_AUTHED, CMD_NO_VIEW},
    {"NOTIFY", cmd_notify, S_AUTHED, 0},
    {"COMPRESS", cmd_compress, S_AUTHED, 0},
    {"GETQUOTA", cmd_getquota, S_AUTHED, 0},
    {"GETQUOTAROOT", cmd_getquotaroot, S_AUTHED, 0},
    {"SETQUOTA", cmd_setquota, S_AUTHED, 0},
    {"GENURLAUTH", cmd_genurlauth, S_AUTHED, 0},
    {"URLFETCH", cmd_urlfetch, S_AUTHED, 0},
    {"RESETKEY", cmd_resetkey, S_AUTHED, 0},
    {"SETACL", cmd_setacl, S_AUTHED, 0},
    {"DELETEACL", cmd_setacl, S_AUTHED, 0},
    {"GETACL", cmd_getacl, S_AUTHED, 0},
    {"MYRIGHTS", cmd_myrights, S_AUTHED, 0},
    {"LISTRIGHTS", cmd_listrights, S_AUTHED, 0},
    /* selected (6.4) */
    {"CHECK", cmd_check, S_SE, 0},
    {"CLOSE", cmd_close, S_SE, 0},
    {"UNSELECT", cmd_close, S_SE, 0},
    {"EXPUNGE", cmd_expunge, S_SE, 0},
    {"SEARCH", cmd_search, S_SE, CMD_NO_EXPUNGE},
    {"FETCH", cmd_fetch, S_SE, CMD_NO_EXPUNGE},
    {"STORE", cmd_store, S_SE, CMD_NO_EXPUNGE},
    {"COPY", cmd_copy, S_SE, 0},
    {"MOVE", cmd_copy, S_SE, 0},
    {"SORT", cmd_sort, S_SE, CMD_NO_EXPUNGE},
    {"CANCELUPDATE", cmd_cancelupdate, S_SE, 0},
    {"THREAD", cmd_thread, S_SE, CMD_NO_EXPUNGE},
    {"UID SEARCH", cmd_search, S_SE, 0},
    {"UID SORT", cmd_sort, S_SE, 0},
    {"UID THREAD", cmd_thread, S_SE, 0},
    {"UID FETCH", cmd_fetch, S_SE, CMD_OWN_VIEW},
    {"UID STORE", cmd_store, S_SE, 0},
    {"UID COPY", cmd_copy, S_SE, 0},
    {"UID MOVE", cmd_copy, S_SE, 0},
    {"UID EXPUNGE", cmd_expunge, S_SE, 0},
};

/* When a capability is advertised. */
#define CAP_ALWAYS 0x0u
#define CAP_PRE_TLS 0x1u  /* only before TLS (STARTTLS, LOGINDISABLED) */
#define CAP_TLS 0x2u      /* only under TLS */
#define CAP_PRE_AUTH 0x4u /* only before authentication */
#define CAP_CERT 0x8u     /* only when the client certificate maps to an account */
#define CAP_OAUTH 0x10u   /* only when OAuth is configured */
#define CAP_AUTHED 0x20u  /* only once authenticated */

struct imap_capa {
	const char *name;
	const char *rfc;
	unsigned when;
};

static const struct imap_capa capa_table[] = {
    {"IMAP4rev1", "RFC 3501", CAP_ALWAYS},
    {"IMAP4rev2", "RFC 9051", CAP_ALWAYS},
    {"STARTTLS", "RFC 9051 6.2.1", CAP_PRE_TLS | CAP_PRE_AUTH},
    {"LOGINDISABLED", "RFC 9051 6.2.3", CAP_PRE_TLS | CAP_PRE_AUTH},
    /* The AUTH= rows follow auth/sasl.c's offer (imap_login_offer). */
    {"AUTH=PLAIN", "RFC 4616", CAP_TLS | CAP_PRE_AUTH},
    {"AUTH=LOGIN", "draft-murchison-sasl-login", CAP_TLS | CAP_PRE_AUTH},
    {"AUTH=EXTERNAL", "RFC 4422 appendix A", CAP_TLS | CAP_PRE_AUTH | CAP_CERT},
    {"AUTH=XOAUTH2", "Google XOAUTH2", CAP_TLS | CAP_PRE_AUTH | CAP_OAUTH},
    {"AUTH=OAUTHBEARER", "RFC 7628", CAP_TLS | CAP_PRE_AUTH | CAP_OAUTH},
    {"SASL-IR", "RFC 4959", CAP_ALWAYS},
    {"LITERAL+", "RFC 7888", CAP_ALWAYS},
    {"MULTIAPPEND", "RFC 3502", CAP_ALWAYS},
    {"CATENATE", "RFC 4469", CAP_ALWAYS},
    {"URLAUTH", "RFC 4467", CAP_ALWAYS},
    {"URLAUTH=BINARY", "RFC 5524", CAP_ALWAYS},
    {"ENABLE", "RFC 5161", CAP_ALWAYS},
    {"UTF8=ACCEPT", "RFC 6855", CAP_ALWAYS},
    {"IDLE", "RFC 2177", CAP_ALWAYS},
    {"NOTIFY", "RFC 5465", CAP_ALWAYS},
    {"UIDPLUS", "RFC 4315", CAP_ALWAYS},
    {"MOVE", "RFC 6851", CAP_ALWAYS},
    {"NAMESPACE", "RFC 2342", CAP_ALWAYS},
    {"SPECIAL-USE", "RFC 6154", CAP_ALWAYS},
    {"UNSELECT", "RFC 3691", CAP_ALWAYS},
    {"CHILDREN", "RFC 3348", CAP_ALWAYS},
    {"ID", "RFC 2971", CAP_ALWAYS},
    {"CONDSTORE", "RFC 7162", CAP_ALWAYS},
    {"QRESYNC", "RFC 7162", CAP_ALWAYS},
    {"ESEARCH", "RFC 4731", CAP_ALWAYS},
    {"SORT", "RFC 5256", CAP_ALWAYS},
    {"SORT=DISPLAY", "RFC 5957", CAP_ALWAYS},
    {"ESORT", "RFC 5267", CAP_ALWAYS},
    {"CONTEXT=SEARCH", "RFC 5267", CAP_ALWAYS},
    {"CONTEXT=SORT", "RFC 5267 (UPDATE answered NOUPDATE)", CAP_ALWAYS},
    {"THREAD=ORDEREDSUBJECT", "RFC 5256", CAP_ALWAYS},
    {"THREAD=REFERENCES", "RFC 5256", CAP_ALWAYS},
    {"SEARCHRES", "RFC 5182", CAP_ALWAYS},
    {"BINARY", "RFC 3516", CAP_ALWAYS},
    {"LIST-EXTENDED", "RFC 5258", CAP_ALWAYS},
    {"LIST-STATUS", "RFC 5819", CAP_ALWAYS},
    {"STATUS=SIZE", "RFC 8438", CAP_ALWAYS},
    {"ACL", "RFC 4314", CAP_ALWAYS},
    {"QUOTA", "RFC 9208", CAP_ALWAYS},
    {"QUOTA=RES-STORAGE", "RFC 9208 5.1", CAP_ALWAYS},
    {"COMPRESS=DEFLATE", "RFC 4978", CAP_AUTHED},
};

const struct imap_cmd_def *imap_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	return NULL;
}

static bool capa_applies(const struct imap_session *s, unsigned when)
{
	bool tls = conn_is_tls(s->conn);
	if ((when & CAP_PRE_TLS) && tls)
		return false;
	if ((when & CAP_TLS) && !tls)
		return false;
	if ((when & CAP_PRE_AUTH) && s->state != IMAP_STATE_NOT_AUTH)
		return false;
	struct sasl_offer o;
	imap_login_offer(s, &o);
	if ((when & CAP_CERT) && !sasl_offered(&o, AUTH_MECH_EXTERNAL))
		return false;
	if ((when & CAP_OAUTH) && !sasl_offered(&o, AUTH_MECH_OAUTHBEARER))
		return false;
	if ((when & CAP_AUTHED) && s->state == IMAP_STATE_NOT_AUTH)
		return false;
	return true;
}

void imap_capability_list(const struct imap_session *s, struct buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(capa_table) / sizeof(capa_table[0]); i++) {
		if (!capa_applies(s, capa_table[i].when))
			continue;
		if (out->len > 0)
			rc |= buf_append_char(out, ' ');
		rc |= buf_append_str(out, capa_table[i].name);
	}
	str_assert(rc, "out is BUF_UNLIMITED (imap_cmd.h)");
}

/* The commands before which a patient's Historique is brought up to date: those that
 * show folders or their counts, or wait for news. Cheap when nothing is new. */
static bool history_refresh(const char *name)
{
	static const char *const names[] = {"SELECT", "EXAMINE", "STATUS", "LIST",
	                                    "LSUB",   "NOOP",    "CHECK",  "IDLE"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

void imap_cmd_dispatch(struct imap_session *s, struct imap_command *c)
{
	const struct imap_cmd_def *d = imap_cmd_find(c->name);
	if (d == NULL) {
		imap_send(s, c->tag, IMAP_R_UNKNOWN_COMMAND);
		return;
	}
	if ((d->states & s->state) == 0) {
		imap_send_text(s, c->tag,
		               s->state == IMAP_STATE_NOT_AUTH ? IMAP_R_NOT_BEFORE_AUTH
		               : s->state == IMAP_STATE_AUTH   ? IMAP_R_NOT_WITHOUT_SELECT
		                                               : IMAP_R_NOT_NOW,
		               d->name);
		return;
	}
	if (s->view.shared && vault_may_read(s->store, s->account.address, s->view.patient) != 1) {
		/* a grant withdrawn (or a block) takes effect at once, also mid-session */
		conn_puts(s->conn, "* BYE Access to this folder was withdrawn\r\n");
		s->close_after_reply = true;
		return;
	}
	enum imap_state before = s->state;
	if (before != IMAP_STATE_NOT_AUTH && history_refresh(d->name))
		imap_vault_refresh(s); /* new history entries, the vaccination book rebuilt */
	if (!(d->flags & (CMD_NO_VIEW | CMD_OWN_VIEW)) && imap_view_load(s) < 0) {
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		return;
	}
	s->cmd_flags = d->flags;
	s->view.stamp = false;
	d->fn(s, c);
	s->cmd_flags = 0;
	s->view.stamp = false;
	if (before == IMAP_STATE_NOT_AUTH && s->state == IMAP_STATE_AUTH)
		imap_vault_refresh(s); /* at login */
}

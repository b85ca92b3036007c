/* imap_vault.c: the vault over IMAP: the shared namespace Patients/<patient>/Documents
 * for professionals, and the ACL commands with which a patient shares it (see
 * imap_vault.h). Every decision is vault/vault_access's; this file maps IMAP onto it. */
#include "imapd/imap_vault.h"

#include <stdlib.h>
#include <string.h>

#include "imapd/imap_cmd.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault.h"
#include "vault/vault_access.h"
#include "vault/vault_history.h"
#include "vault/vault_notify.h"
#include "vault/vault_vacc.h"

#define OWNER_RIGHTS "lrswipkxtea" /* a patient on their own Documents (RFC 4314 2.1) */

static int visible_folder(struct imap_session *s, const char *owner, const char *name,
                          struct store_mailbox *mb);

static struct vault_actor actor_of(const struct imap_session *s)
{
	struct vault_actor a = {s->account.address, s->auth_method ? s->auth_method : "none",
	                        conn_peer_ip(s->conn)};
	return a;
}

/* true when the space-separated list holds kw, in any case (keywords are atoms that
 * clients spell as they like: "$masked" masks as "$Masked" does). */
static bool has_keyword(const char *keywords, const char *kw)
{
	size_t n = strlen(kw);
	for (const char *p = keywords; p != NULL && *p != '\0';) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && str_ieqn(p, kw, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

bool imap_keywords_masked(const char *keywords)
{
	return has_keyword(keywords, VAULT_MASKED_KEYWORD);
}

bool imap_vault_store_allowed(const struct imap_session *s, const struct store_flags_req *req,
                              const size_t *idx, size_t n)
{
	if (!imap_documents_protected(s, s->view.name) || s->view.shared)
		return true;
	bool asked = has_keyword(req->keywords, VAULT_SUPERSEDED_KEYWORD);
	for (size_t k = 0; k < n; k++) {
		bool now = has_keyword(s->view.v[idx[k]].keywords, VAULT_SUPERSEDED_KEYWORD);
		bool after = req->op == STORE_FLAGS_ADD      ? now || asked
		             : req->op == STORE_FLAGS_REMOVE ? now && !asked
		                                             : asked;
		if (after != now)
			return false;
	}
	return true;
}

/* The vault's own state, which may cross to professionals; the patient's flags and
 * keywords never do. */
static const char *const system_keywords[] = {VAULT_MASKED_KEYWORD, VAULT_SUPERSEDED_KEYWORD};

void imap_vault_strip(const struct imap_session *s, struct store_msg *m)
{
	if (!s->view.shared)
		return;
	m->flags = 0;
	if (m->keywords == NULL)
		return;
	char *out = m->keywords; /* filtered in place: the list only shrinks */
	for (const char *p = m->keywords; *p != '\0';) {
		size_t len = strcspn(p, " ");
		bool keep = false;
		for (size_t k = 0; k < sizeof(system_keywords) / sizeof(system_keywords[0]); k++)
			keep |= len == strlen(system_keywords[k]) && str_ieqn(p, system_keywords[k], len);
		if (keep) {
			if (out != m->keywords)
				*out++ = ' ';
			memmove(out, p, len);
			out += len;
		}
		p += len;
		p += strspn(p, " ");
	}
	*out = '\0';
}

bool imap_vault_visible(struct imap_session *s, uint32_t uid)
{
	struct store_message sm;
	char err[256];
	if (!s->view.shared)
		return true;
	if (vault_may_read(s->store, s->account.address, s->view.patient) != 1)
		return false;
	/* a document the patient removed is gone for the professional at once */
	int rc = store_message_get(s->store, s->view.id, uid, STORE_WANT_LIVE, &sm, err, sizeof(err));
	if (rc < 0)
		log_err("imap.vault", "user=%s op=visible error=\"%s\"", s->account.address, err);
	bool visible = rc == 1 && !imap_keywords_masked(sm.msg.keywords);
	store_message_free(&sm);
	return visible;
}

bool imap_vault_name(const char *name)
{
	size_t n = strlen(IMAP_VAULT_NAMESPACE);
	return strncmp(name, IMAP_VAULT_NAMESPACE, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/* "Patients/<patient>/<rest>" -> patient, rest. Returns 0 or -1. */
static int split_shared(const char *name, char *patient, size_t plen, const char **rest)
{
	const char *p = name + strlen(IMAP_VAULT_NAMESPACE);
	if (*p != '/')
		return -1;
	p++;
	const char *slash = strchr(p, '/');
	if (slash == NULL || slash == p || (size_t)(slash - p) >= plen)
		return -1;
	memcpy(patient, p, (size_t)(slash - p));
	patient[slash - p] = '\0';
	*rest = slash + 1;
	return 0;
}

/* folder: the name inside the patient's account ("Documents/Biologie"), NULL when the
 * request named none; the history shows the refusal only as vault_audit_refusal says. */
static void audit_refusal(struct imap_session *s, const char *patient, const char *folder, const char *cmd,
                          const char *name, const char *why)
{
	struct vault_actor a = actor_of(s);
	if (vault_audit_refusal(s->store, &a, s->account.role != ROLE_PATIENT, patient, folder, name, cmd,
	                        why) < 0)
		log_err("imap.audit", "action=vault.refused user=%s", s->account.address);
}

#define HISTORY_SYNC_MAX 2000 /* entries copied per call; the rest at the next command */

void imap_history_sync(struct imap_session *s)
{
	char err[256];
	/* s->store NULL: the pre-login process, whose session process syncs at login */
	if (s->state == IMAP_STATE_NOT_AUTH || s->account.role != ROLE_PATIENT || s->store == NULL)
		return;
	int n = vault_history_sync(s->store, s->account.address, HISTORY_SYNC_MAX, err, sizeof(err));
	if (n < 0)
		log_err("imap.history", "user=%s error=\"%s\"", s->account.address, err);
	else if (n > 0)
		log_info("imap.history", "user=%s added=%d", s->account.address, n);
}

void imap_book_refresh(struct imap_session *s)
{
	char err[256];
	/* s->store NULL: the pre-login process, whose session process refreshes at login */
	if (s->state == IMAP_STATE_NOT_AUTH || s->account.role != ROLE_PATIENT || s->store == NULL)
		return;
	int rc = vault_vacc_refresh(s->store, s->account.address, err, sizeof(err));
	if (rc < 0)
		log_err("imap.vaccination", "user=%s error=\"%s\"", s->account.address, err);
	else if (rc > 0)
		log_info("imap.vaccination", "user=%s rebuilt=1", s->account.address);
}

void imap_vault_refresh(struct imap_session *s)
{
	imap_history_sync(s);
	imap_book_refresh(s);
}

bool imap_history_protected(const struct imap_session *s, const char *name)
{
	return s->account.role == ROLE_PATIENT && name != NULL && vault_is_history_mailbox(name);
}

bool imap_documents_protected(const struct imap_session *s, const char *name)
{
	return s->account.role == ROLE_PATIENT && name != NULL && vault_is_documents_mailbox(name);
}

bool imap_book_protected(const struct imap_session *s, const char *name)
{
	return s->account.role == ROLE_PATIENT && name != NULL && strcmp(name, VAULT_VACC_MAILBOX) == 0;
}

void imap_vault_deleted(struct imap_session *s, const uint32_t *uids, size_t n)
{
	struct vault_actor a = actor_of(s);
	char target[STORE_MAILBOX_MAX + 16];
	if (!imap_documents_protected(s, s->view.name) || s->view.shared)
		return;
	for (size_t i = 0; i < n; i++) {
		str_assert(str_format(target, sizeof(target), "%s %u", s->view.name, uids[i]),
		           "a STORE_MAILBOX_MAX name and a number fit STORE_MAILBOX_MAX + 16");
		if (vault_audit(s->store, &a, "vault.delete", s->account.address, target, NULL, "ok") < 0)
			log_err("imap.audit", "action=vault.delete user=%s", s->account.address);
	}
}

/* "Documents-PS[/<Class>]" of patient -> the holder's mailbox "<patient>/Documents[/<Class>]".
 * Returns 1 when rest names such a folder, 0 when not, -1 when too long. */
static int ps_folder(const char *patient, const char *rest, char *out, size_t outlen)
{
	size_t n = strlen(IMAP_VAULT_PS_FOLDER);
	if (strncmp(rest, IMAP_VAULT_PS_FOLDER, n) != 0 || (rest[n] != '\0' && rest[n] != '/'))
		return 0;
	return str_format(out, outlen, "%s/Documents%s", patient, rest + n) == 0 ? 1 : -1;
}

int imap_vault_resolve(struct imap_session *s, const char *name, struct imap_target *t, const char *cmd)
{
	memset(t, 0, sizeof(*t));
	if (!imap_vault_name(name)) {
		str_assert(str_copy(t->owner, sizeof(t->owner), s->account.address), "256 bytes both");
		str_assert(str_copy(t->name, sizeof(t->name), name),
		           "name fits STORE_MAILBOX_MAX (imap_vault.h)");
		return 1;
	}
	char patient[256], psname[STORE_MAILBOX_MAX];
	const char *rest = NULL;
	int ps = 0;
	if (split_shared(name, patient, sizeof(patient), &rest) == 0) {
		str_lower(patient);
		ps = ps_folder(patient, rest, psname, sizeof(psname));
	}
	if (rest == NULL || ps < 0 || (ps == 0 && !vault_is_shared_mailbox(rest))) {
		audit_refusal(s, "", NULL, cmd, name, "not a shared folder");
		return 0;
	}
	int rc = s->account.role == ROLE_PATIENT ? 0 : vault_may_read(s->store, s->account.address, patient);
	if (rc != 1) {
		audit_refusal(s, rc < 0 || ps ? "" : patient, rest, cmd, name, rc < 0 ? "error" : "no grant");
		return rc < 0 ? -1 : 0;
	}
	if (ps) {
		if (vault_ps_user(s->cfg, t->owner, sizeof(t->owner)) != 0)
			return -1;
		str_assert(str_copy(t->name, sizeof(t->name), psname), "STORE_MAILBOX_MAX both");
	} else {
		str_assert(str_copy(t->owner, sizeof(t->owner), patient), "256 bytes both");
		str_assert(str_copy(t->name, sizeof(t->name), rest), "a part of name, STORE_MAILBOX_MAX");
	}
	str_assert(str_copy(t->patient, sizeof(t->patient), patient), "256 bytes both");
	t->shared = true;
	t->ps = ps == 1;
	return 1;
}

void imap_vault_refuse(struct imap_session *s, const char *tag, const char *cmd, const char *name)
{
	char patient[256] = "";
	const char *rest = NULL, *folder = NULL;
	if (imap_vault_name(name) && split_shared(name, patient, sizeof(patient), &rest) == 0) {
		str_lower(patient);
		char ps[STORE_MAILBOX_MAX];
		folder = rest;
		if (ps_folder(patient, rest, ps, sizeof(ps)) != 0)
			patient[0] = '\0'; /* never in the patient's history */
	} else if (s->view.shared && !s->view.ps && (name == NULL || name[0] == '\0')) {
		str_assert(str_copy(patient, sizeof(patient), s->view.patient), "256 bytes both");
		folder = s->view.name;
	}
	audit_refusal(s, patient, folder, cmd, name ? name : "", "read-only");
	imap_send(s, tag, IMAP_R_NOPERM);
}

void imap_vault_opened(struct imap_session *s, const struct imap_target *t)
{
	struct vault_actor a = actor_of(s);
	if (t->ps) { /* INVISIBLE_PATIENT documents: recorded, never shown to the patient */
		char target[STORE_MAILBOX_MAX + 300];
		str_assert(str_format(target, sizeof(target), "%s:%s", t->owner, t->name),
		           "a 256-byte owner and a STORE_MAILBOX_MAX name fit STORE_MAILBOX_MAX + 300");
		if (vault_audit(s->store, &a, "vault.open", "", target, NULL, "ok") < 0)
			log_err("imap.audit", "action=vault.open user=%s", s->account.address);
		return;
	}
	if (vault_audit(s->store, &a, "vault.open", t->patient, t->name, NULL, "ok") < 0)
		log_err("imap.audit", "action=vault.open user=%s", s->account.address);
	vault_notify_access(s->store, t->patient, s->account.address);
}

void imap_vault_read(struct imap_session *s, uint32_t uid)
{
	struct vault_actor a = actor_of(s);
	char target[STORE_MAILBOX_MAX + 300];
	/* a 256-byte owner, a STORE_MAILBOX_MAX name and a number fit STORE_MAILBOX_MAX + 300 */
	if (s->view.ps)
		str_assert(str_format(target, sizeof(target), "%s:%s %u", s->view.owner, s->view.name, uid),
		           "owner, name and uid fit");
	else
		str_assert(str_format(target, sizeof(target), "%s %u", s->view.name, uid),
		           "name and uid fit");
	if (vault_audit(s->store, &a, "vault.read", s->view.ps ? "" : s->view.patient, target, NULL, "ok") <
	    0)
		log_err("imap.audit", "action=vault.read user=%s", s->account.address);
}

void imap_vault_mask_changed(struct imap_session *s, uint32_t uid, bool masked)
{
	struct vault_actor a = actor_of(s);
	char target[STORE_MAILBOX_MAX + 16];
	str_assert(str_format(target, sizeof(target), "%s %u", s->view.name, uid),
	           "a STORE_MAILBOX_MAX name and a number fit STORE_MAILBOX_MAX + 16");
	if (vault_audit(s->store, &a, masked ? "vault.mask" : "vault.unmask", s->account.address, target,
	                NULL, "ok") < 0)
		log_err("imap.audit", "action=vault.mask user=%s", s->account.address);
}

struct list_ctx {
	struct imap_session *s;
	struct store_mailbox_list *l;
	int rc;
};

static void list_push(struct list_ctx *x, const struct store_mailbox *mb)
{
	x->l->v = xrealloc(x->l->v, (x->l->n + 1) * sizeof(*x->l->v));
	x->l->v[x->l->n++] = *mb;
}

/* Appends the patient's Documents-PS folders (INVISIBLE_PATIENT documents), if any. */
static void add_patient_ps(struct list_ctx *x, const char *patient)
{
	char user[300], prefix[300], err[256];
	struct store_mailbox_list pl = {0};
	if (vault_ps_user(x->s->cfg, user, sizeof(user)) != 0 || store_user_exists(x->s->store, user) != 1)
		return;
	if (str_format(prefix, sizeof(prefix), "%s/Documents", patient) < 0)
		return;
	if (store_mailbox_list(x->s->store, user, &pl, err, sizeof(err)) < 0) {
		log_err("imap.store", "user=%s op=vault_list_ps error=\"%s\"", x->s->account.address, err);
		return;
	}
	size_t n = strlen(prefix);
	for (size_t i = 0; i < pl.n; i++) {
		const char *name = pl.v[i].name;
		if (strncmp(name, prefix, n) != 0 || (name[n] != '\0' && name[n] != '/'))
			continue;
		struct store_mailbox mb = pl.v[i];
		if (str_format(mb.name, sizeof(mb.name), "%s/%s/%s%s", IMAP_VAULT_NAMESPACE, patient,
		               IMAP_VAULT_PS_FOLDER, name + n) < 0)
			continue;
		mb.subscribed = false;
		mb.special_use = 0;
		list_push(x, &mb);
	}
	store_mailbox_list_free(&pl);
}

/* Appends one patient's Documents folders to the listing. */
static int add_patient(const char *patient, void *arg)
{
	struct list_ctx *x = arg;
	struct store_mailbox_list pl = {0};
	char err[256];
	if (store_mailbox_list(x->s->store, patient, &pl, err, sizeof(err)) < 0) {
		log_err("imap.store", "user=%s op=vault_list error=\"%s\"", x->s->account.address, err);
		return 0;
	}
	for (size_t i = 0; i < pl.n; i++) {
		struct store_mailbox shown;
		/* "Documents" itself holds no document: LIST shows it as the placeholder parent
		 * it is; a folder whose documents are all masked is not shown at all */
		if (!vault_is_shared_mailbox(pl.v[i].name) || strcmp(pl.v[i].name, "Documents") == 0 ||
		    visible_folder(x->s, patient, pl.v[i].name, &shown) != 1)
			continue;
		struct store_mailbox mb = pl.v[i];
		if (str_format(mb.name, sizeof(mb.name), "%s/%s/%s", IMAP_VAULT_NAMESPACE, patient,
		               pl.v[i].name) < 0)
			continue;
		mb.subscribed = false;
		mb.special_use = 0;
		x->l->v = xrealloc(x->l->v, (x->l->n + 1) * sizeof(*x->l->v));
		x->l->v[x->l->n++] = mb;
	}
	store_mailbox_list_free(&pl);
	add_patient_ps(x, patient);
	return 0;
}

int imap_vault_list(struct imap_session *s, struct store_mailbox_list *l)
{
	if (s->account.role == ROLE_PATIENT)
		return 0;
	struct list_ctx x = {s, l, 0};
	return vault_patients_readable_by(s->store, s->account.address, add_patient, &x);
}

/* The folder as a professional may see it: counts and UIDNEXT of the documents not
 * masked only, none of the patient's flags, so that nothing tells a masked document
 * exists; HIGHESTMODSEQ 0, as RFC 7162 3.1.2 has it for a mailbox without MODSEQ (a
 * shared view is one: imap_vault.h); a folder with no such document does not exist
 * for them. Returns 1, 0 (none visible, or no such folder), -1. */
static int visible_folder(struct imap_session *s, const char *owner, const char *name,
                          struct store_mailbox *mb)
{
	struct store_msglist list = {0};
	char err[256];
	int rc = store_select(s->store, owner, name, mb, &list, err, sizeof(err));
	if (rc != 1) {
		if (rc < 0)
			log_err("imap.store", "user=%s op=vault_status error=\"%s\"", s->account.address,
			        err);
		return rc;
	}
	mb->messages = mb->deleted = 0;
	mb->total_size = 0;
	mb->deleted_size = 0; /* the patient's \Deleted is theirs too */
	mb->uidnext = 1;
	mb->highestmodseq = 0;
	for (size_t i = 0; i < list.n; i++) {
		const struct store_msg *m = &list.v[i];
		if (imap_keywords_masked(m->keywords))
			continue;
		mb->messages++;
		mb->total_size += m->size;
		mb->uidnext = m->uid + 1;
	}
	mb->unseen = mb->messages; /* the patient's \Seen is theirs: never shown */
	mb->recent = 0;            /* the mark moves when the patient opens it (imap_view.c) */
	store_msglist_free(&list);
	return mb->messages > 0 ? 1 : 0;
}

int imap_vault_status(struct imap_session *s, const struct imap_target *t, struct store_mailbox *mb)
{
	return visible_folder(s, t->owner, t->name, mb);
}

int imap_vault_shown(struct imap_session *s, struct store_mailbox *mb)
{
	if (!s->view.shared)
		return 1;
	if (s->view.n == 0)
		return 0;
	mb->uidnext = s->view.v[s->view.n - 1].uid + 1;
	mb->highestmodseq = 0; /* NOMODSEQ: SELECT does not announce it */
	return 1;
}

void imap_vault_searched(struct imap_session *s)
{
	struct vault_actor a = actor_of(s);
	if (!s->view.shared)
		return;
	if (vault_audit(s->store, &a, "vault.search", s->view.ps ? "" : s->view.patient, s->view.name, NULL,
	                "ok") < 0)
		log_err("imap.audit", "action=vault.search user=%s", s->account.address);
}

/* ---- ACL commands (RFC 4314): only a patient, only on "Documents" ---- */

/* The mailbox argument of an ACL command must be the patient's own "Documents". */
static bool acl_mailbox_ok(struct imap_session *s, struct imap_command *c, char *name, size_t namelen)
{
	if (c->nargs < 1 || imap_mailbox_arg(s, &c->args[0], name, namelen) < 0) {
		imap_send(s, c->tag, IMAP_R_INVALID_MAILBOX);
		return false;
	}
	if (s->account.role != ROLE_PATIENT || strcmp(name, "Documents") != 0) {
		imap_vault_refuse(s, c->tag, c->name, name);
		return false;
	}
	return true;
}

/* Rights a patient may give: read access, "lr" (with or without '+'); "" or "-..." revokes. */
static int parse_rights(const char *r, bool *grant)
{
	if (r[0] == '\0' || r[0] == '-') {
		*grant = false;
		return 0;
	}
	if (r[0] == '+')
		r++;
	*grant = true;
	for (; *r; r++)
		if (*r != 'l' && *r != 'r')
			return -1;
	return 0;
}

void cmd_setacl(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	bool del = strcmp(c->name, "DELETEACL") == 0;
	const char *who = c->nargs >= 2 ? imap_arg_astring(&c->args[1]) : NULL;
	const char *rights = !del && c->nargs == 3 ? imap_arg_astring(&c->args[2]) : "";
	if (who == NULL || rights == NULL || c->nargs != (del ? 2u : 3u)) {
		imap_send_text(s, c->tag, del ? IMAP_R_EXPECTS_IDENTIFIER : IMAP_R_EXPECTS_IDENTIFIER_RIGHTS,
		               c->name);
		return;
	}
	if (!acl_mailbox_ok(s, c, name, sizeof(name)))
		return;
	bool grant = false;
	if (parse_rights(rights, &grant) < 0) {
		imap_send(s, c->tag, IMAP_R_CANNOT_SHARE);
		return;
	}
	char pro[256];
	/* never a cut grantee: a prefix of what the patient typed is someone else */
	if (str_copy(pro, sizeof(pro), who) < 0) {
		imap_send_text(s, c->tag, IMAP_R_IDENTIFIER_TOO_LONG, c->name);
		return;
	}
	str_lower(pro);
	struct vault_actor a = actor_of(s);
	int rc = grant ? vault_access_grant(s->store, &a, s->account.address, pro, err, sizeof(err))
	               : vault_access_revoke(s->store, &a, s->account.address, pro, err, sizeof(err));
	if (rc < 0) {
		log_err("imap.acl", "user=%s error=\"%s\"", s->account.address, err);
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	} else if (rc == 1 && !grant) {
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name); /* nothing to revoke: already so */
	} else if (rc == 1) {
		imap_send_text(s, c->tag, IMAP_R_CANNOT, err);
	} else {
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
}

struct acl_out {
	struct imap_session *s;
};

static int acl_entry(const struct vault_access_entry *e, void *arg)
{
	struct acl_out *o = arg;
	if (e->rights[0] == '\0' || e->blocked)
		return 0;
	conn_puts(o->s->conn, " ");
	imap_write_string(o->s, e->professional, strlen(e->professional));
	conn_printf(o->s->conn, " %s", e->rights);
	return 0;
}

void cmd_getacl(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX];
	if (c->nargs != 1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	if (!acl_mailbox_ok(s, c, name, sizeof(name)))
		return;
	conn_puts(s->conn, "* ACL Documents ");
	imap_write_string(s, s->account.address, strlen(s->account.address));
	conn_puts(s->conn, " " OWNER_RIGHTS);
	struct acl_out o = {s};
	int rc = vault_access_list(s->store, s->account.address, acl_entry, &o);
	conn_puts(s->conn, "\r\n");
	if (rc < 0)
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_listrights(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX];
	const char *who = c->nargs == 2 ? imap_arg_astring(&c->args[1]) : NULL;
	if (who == NULL) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_IDENTIFIER, c->name);
		return;
	}
	if (!acl_mailbox_ok(s, c, name, sizeof(name)))
		return;
	conn_puts(s->conn, "* LISTRIGHTS Documents ");
	imap_write_string(s, who, strlen(who));
	conn_puts(s->conn, " \"\" l r\r\n");
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_myrights(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX];
	if (c->nargs != 1 || imap_mailbox_arg(s, &c->args[0], name, sizeof(name)) < 0) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	struct imap_target t;
	int rc = imap_vault_resolve(s, name, &t, c->name);
	if (rc <= 0) {
		imap_send(s, c->tag, rc < 0 ? IMAP_R_SERVERBUG : IMAP_R_NOPERM);
		return;
	}
	struct store_mailbox mb;
	char err[256];
	if (store_mailbox_get(s->store, t.owner, t.name, &mb, err, sizeof(err)) != 1) {
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
		return;
	}
	conn_puts(s->conn, "* MYRIGHTS ");
	imap_write_mailbox(s, name);
	conn_printf(s->conn, " %s\r\n",
	            t.shared                            ? "lr"
	            : imap_history_protected(s, t.name) ? "lrs"
	                                                : OWNER_RIGHTS);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* imap_mailbox.c: mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME,
 * (UN)SUBSCRIBE, STATUS, APPEND, CHECK, CLOSE/UNSELECT, EXPUNGE (RFC 9051 6.3, 6.4). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_qresync.h"
#include "imap/imap_date.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_history.h"

/* Reports a store failure: internal errors are logged, never shown in detail. */
static void store_failed(struct imap_session *s, const char *tag, const char *what, const char *err)
{
	log_err("imap.store", "user=%s op=%s error=\"%s\"", s->account.address, what, err);
	imap_send(s, tag, IMAP_R_SERVERBUG);
}

/* The mailbox name argument i, decoded; BAD sent when it is not one. */
static bool mailbox_arg(struct imap_session *s, struct imap_command *c, size_t i, char *out, size_t outlen)
{
	int rc = i < c->nargs ? imap_mailbox_arg(s, &c->args[i], out, outlen) : -1;
	if (rc == -1)
		imap_send(s, c->tag, IMAP_R_INVALID_MAILBOX);
	else if (rc == -2) /* a valid argument that names no mailbox (Dovecot answers NO too) */
		imap_send(s, c->tag, IMAP_R_CANNOT_NAME);
	return rc == 0;
}

/* A mailbox name argument that a write command may use: the shared namespace is
 * read-only (refused and audited). */
static bool own_mailbox_arg(struct imap_session *s, struct imap_command *c, size_t i, char *out,
                            size_t outlen)
{
	if (!mailbox_arg(s, c, i, out, outlen))
		return false;
	if (imap_vault_name(out)) {
		imap_vault_refuse(s, c->tag, c->name, out);
		return false;
	}
	return true;
}

/* As own_mailbox_arg, for commands that would write into or remove the mailbox: a
 * patient's Historique is refused too (its messages are the history, kept as is). */
bool imap_writable_mailbox_arg(struct imap_session *s, struct imap_command *c, size_t i, char *out,
                               size_t outlen)
{
	if (!own_mailbox_arg(s, c, i, out, outlen))
		return false;
	if (imap_history_protected(s, out)) {
		imap_send(s, c->tag, IMAP_R_NOPERM_HISTORY);
		return false;
	}
	if (imap_documents_protected(s, out)) {
		imap_send(s, c->tag, IMAP_R_NOPERM_DOCUMENTS);
		return false;
	}
	if (imap_book_protected(s, out)) {
		imap_send(s, c->tag, IMAP_R_NOPERM_BOOK);
		return false;
	}
	return true;
}

static void select_untagged(struct imap_session *s, const struct store_mailbox *mb)
{
	struct imap_view *v = &s->view;
	imap_view_write_flags(s);
	conn_printf(s->conn, "* %zu EXISTS\r\n", v->pending ? v->pending_exists : v->n);
	if (!s->enabled_rev2) /* RFC 9051 dropped RECENT and UNSEEN from SELECT */
		conn_printf(s->conn, "* %zu RECENT\r\n", v->nrecent);
	if (v->pending && v->pending_unseen > 0 && !s->enabled_rev2)
		conn_printf(s->conn, "* OK [UNSEEN %u] First unseen\r\n", v->pending_unseen);
	size_t unseen = v->pending || s->enabled_rev2 ? v->n : imap_view_first_unseen(v);
	if (unseen < v->n)
		conn_printf(s->conn, "* OK [UNSEEN %zu] First unseen\r\n", unseen + 1);
	conn_printf(s->conn, "* OK [UIDVALIDITY %u] UIDs valid\r\n", mb->uidvalidity);
	conn_printf(s->conn, "* OK [UIDNEXT %u] Predicted next UID\r\n", mb->uidnext);
	if (v->shared) /* RFC 7162 3.1.2: what a professional may see has no MODSEQ */
		conn_puts(s->conn, "* OK [NOMODSEQ] No MODSEQ in a shared folder\r\n");
	else
		conn_printf(s->conn, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		            (unsigned long long)mb->highestmodseq);
}

/* SELECT/EXAMINE once the arguments are read. */
static void select_open(struct imap_session *s, struct imap_command *c, const char *name,
                        struct imap_qresync *q)
{
	bool examine = strcmp(c->name, "EXAMINE") == 0;
	/* RFC 9051 6.3.2: the previous mailbox is closed, without expunge; imap_view_open
	 * closes it, or catches it up when it is the one selected again */
	if (s->view.open)
		conn_puts(s->conn, "* OK [CLOSED] Previous mailbox closed\r\n");
	struct imap_target t;
	int rc = imap_vault_resolve(s, name, &t, c->name);
	if (rc <= 0)
		imap_view_close(s);
	if (rc == 0) {
		imap_send(s, c->tag, IMAP_R_NOPERM);
		return;
	}
	struct store_mailbox mb;
	if (rc > 0)
		rc = imap_view_open(s, &t, examine, &mb);
	if (rc > 0 && q->on && imap_view_load(s) < 0) { /* QRESYNC's FETCH and VANISHED need them */
		imap_view_close(s);
		rc = -1;
	}
	if (rc > 0 && imap_vault_shown(s, &mb) == 0) { /* all masked: as if it never held one */
		imap_view_close(s);
		rc = 0;
	}
	if (rc == 0) {
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
		return;
	}
	if (rc < 0) {
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		return;
	}
	s->n_select++;
	if (t.shared)
		imap_vault_opened(s, &t);
	select_untagged(s, &mb);
	imap_qresync_select(s, q);
	imap_send_text(s, c->tag, s->view.readonly ? IMAP_R_SELECTED_RO : IMAP_R_SELECTED_RW, c->name);
}

void cmd_select(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX];
	if (c->nargs < 1 || c->nargs > 2) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	struct imap_qresync q = {0};
	const char *perr;
	/* RFC 7162 3.1.8, 3.2.5: SELECT mailbox (CONDSTORE) / (QRESYNC (...)) */
	if (c->nargs == 2 && imap_qresync_parse(s, &c->args[1], &q, &perr) < 0) {
		imap_qresync_free(&q);
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, perr);
		return;
	}
	if (!mailbox_arg(s, c, 0, name, sizeof(name))) {
		imap_qresync_free(&q);
		return;
	}
	select_open(s, c, name, &q);
	imap_qresync_free(&q);
}

void cmd_create(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	if (c->nargs != 1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	if (!imap_writable_mailbox_arg(s, c, 0, name, sizeof(name)))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_send(s, c->tag, IMAP_R_ALREADYEXISTS_INBOX);
		return;
	}
	struct store_mailbox mb;
	int rc = store_mailbox_get(s->store, s->account.address, name, &mb, err, sizeof(err));
	if (rc == 1) {
		imap_send(s, c->tag, IMAP_R_ALREADYEXISTS);
		return;
	}
	if (rc == 0)
		rc = store_mailbox_create(s->store, s->account.address, name, 0, err, sizeof(err));
	if (rc < 0)
		store_failed(s, c->tag, "create", err);
	else if (rc == 1)
		imap_send_text(s, c->tag, IMAP_R_CANNOT, err);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_delete(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	if (c->nargs != 1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	if (!imap_writable_mailbox_arg(s, c, 0, name, sizeof(name)))
		return;
	if (s->view.open && strcmp(s->view.name, name) == 0)
		imap_view_close(s); /* as Dovecot: the mailbox is deselected first */
	int rc = store_mailbox_delete(s->store, s->account.address, name, err, sizeof(err));
	if (rc < 0)
		store_failed(s, c->tag, "delete", err);
	else if (rc == 1)
		imap_send_text(s, c->tag, IMAP_R_NONEXISTENT_WHY, err);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_rename(struct imap_session *s, struct imap_command *c)
{
	char from[STORE_MAILBOX_MAX], to[STORE_MAILBOX_MAX], err[256];
	if (c->nargs != 2) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_TWO_MAILBOXES, c->name);
		return;
	}
	if (!imap_writable_mailbox_arg(s, c, 0, from, sizeof(from)) ||
	    !imap_writable_mailbox_arg(s, c, 1, to, sizeof(to)))
		return;
	int rc = store_mailbox_rename(s->store, s->account.address, from, to, err, sizeof(err));
	if (rc == 0 && s->view.open && strcmp(s->view.name, from) == 0)
		/* ids survive a rename */
		str_assert(str_copy(s->view.name, sizeof(s->view.name), to), "STORE_MAILBOX_MAX both");
	if (rc < 0)
		store_failed(s, c->tag, "rename", err);
	else if (rc == 1)
		imap_send_text(s, c->tag, IMAP_R_CANNOT, err);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_subscribe(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	bool sub = strcmp(c->name, "SUBSCRIBE") == 0;
	if (c->nargs != 1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	if (!own_mailbox_arg(s, c, 0, name, sizeof(name)))
		return;
	int rc = store_mailbox_subscribe(s->store, s->account.address, name, sub, err, sizeof(err));
	if (rc < 0)
		store_failed(s, c->tag, "subscribe", err);
	else if (rc == 1)
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* Appends one STATUS item; returns -1 for an unknown item. */
static int status_item(struct buf *b, const char *item, const struct store_mailbox *mb)
{
	unsigned long long v;
	if (str_ieq(item, "MESSAGES"))
		v = mb->messages;
	else if (str_ieq(item, "UIDNEXT"))
		v = mb->uidnext;
	else if (str_ieq(item, "UIDVALIDITY"))
		v = mb->uidvalidity;
	else if (str_ieq(item, "UNSEEN"))
		v = mb->unseen;
	else if (str_ieq(item, "RECENT"))
		v = mb->recent;
	else if (str_ieq(item, "DELETED"))
		v = mb->deleted;
	else if (str_ieq(item, "SIZE"))
		v = mb->total_size;
	else if (str_ieq(item, "DELETED-STORAGE")) /* RFC 9208 4.2, in KiB as STORAGE */
		v = (mb->deleted_size + 1023) / 1024;
	else if (str_ieq(item, "HIGHESTMODSEQ"))
		v = mb->highestmodseq;
	else
		return -1;
	char up[32];
	str_assert(str_copy(up, sizeof(up), item), "one of the items above, 15 bytes at most");
	for (char *p = up; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	str_assert(buf_printf(b, "%s%s %llu", b->len ? " " : "", up, v), "b is BUF_UNLIMITED");
	return 0;
}

int imap_status_write(struct imap_session *s, const char *name, const struct imap_arg *items,
                      const char **err)
{
	if (items->type != IMAP_ARG_LIST || items->count == 0) {
		*err = "STATUS expects a list of items";
		return -2;
	}
	for (size_t i = 0; i < items->count; i++)
		if (items->list[i].type != IMAP_ARG_ATOM) {
			*err = "Invalid STATUS item";
			return -2;
		}
	struct store_mailbox mb;
	char serr[256] = "";
	struct imap_target t;
	int rc = imap_vault_resolve(s, name, &t, "STATUS");
	if (rc == 0)
		return -3;
	if (rc > 0 && t.shared)
		rc = imap_vault_status(s, &t, &mb);
	else if (rc > 0)
		rc = store_mailbox_status(s->store, t.owner, t.name, &mb, serr, sizeof(serr));
	if (rc < 0) {
		log_err("imap.store", "user=%s op=status error=\"%s\"", s->account.address, serr);
		return -1;
	}
	if (rc == 0)
		return 1;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	for (size_t i = 0; i < items->count; i++)
		if (status_item(&b, items->list[i].str, &mb) < 0) {
			*err = "Unknown STATUS item";
			buf_free(&b);
			return -2;
		}
	conn_puts(s->conn, "* STATUS ");
	imap_write_mailbox(s, name);
	conn_printf(s->conn, " (%s)\r\n", b.data);
	buf_free(&b);
	return 0;
}

void cmd_status(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX];
	if (c->nargs != 2) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_STATUS, c->name);
		return;
	}
	if (!mailbox_arg(s, c, 0, name, sizeof(name)))
		return;
	const char *err = NULL;
	int rc = imap_status_write(s, name, &c->args[1], &err);
	if (rc == -3)
		imap_send(s, c->tag, IMAP_R_NOPERM);
	else if (rc == -2)
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
	else if (rc == -1)
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	else if (rc == 1)
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
	else
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_check(struct imap_session *s, struct imap_command *c)
{
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* CLOSE expunges silently (unless read-only); UNSELECT does not (RFC 3691). */
void cmd_close(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 0) {
		imap_send_text(s, c->tag, IMAP_R_NO_ARGS, c->name);
		return;
	}
	if (strcmp(c->name, "CLOSE") == 0 && !s->view.readonly) {
		char err[256];
		uint32_t *gone = NULL;
		size_t ngone = 0;
		if (store_expunge(s->store, s->view.id, NULL, 0, &gone, &ngone, err, sizeof(err)) < 0)
			log_err("imap.store", "user=%s op=close error=\"%s\"", s->account.address, err);
		imap_vault_deleted(s, gone, ngone);
		s->n_expunge += (unsigned)ngone;
		free(gone);
	}
	imap_view_close(s);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_expunge(struct imap_session *s, struct imap_command *c)
{
	bool uid = strcmp(c->name, "UID EXPUNGE") == 0;
	if (c->nargs != (uid ? 1u : 0u) || (uid && c->args[0].type != IMAP_ARG_ATOM)) {
		imap_send_text(s, c->tag, IMAP_R_BAD_ARGS, c->name);
		return;
	}
	if (s->view.shared) {
		imap_vault_refuse(s, c->tag, c->name, "");
		return;
	}
	if (s->view.readonly) {
		imap_send(s, c->tag, IMAP_R_READONLY);
		return;
	}
	if (s->view.history) {
		imap_send(s, c->tag, IMAP_R_NOPERM_HISTORY);
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	if (uid) {
		size_t *idx;
		const char *e;
		if (imap_view_resolve(s, c->args[0].str, true, &idx, &n, &e) < 0) {
			imap_send_text(s, c->tag, IMAP_R_SYNTAX, e);
			return;
		}
		uids = xcalloc(n ? n : 1, sizeof(*uids));
		for (size_t i = 0; i < n; i++)
			uids[i] = s->view.v[idx[i]].uid;
		free(idx);
	}
	char err[256];
	uint32_t *gone = NULL;
	size_t ngone = 0;
	int rc = uid && n == 0 ? 0
	                       : store_expunge(s->store, s->view.id, uids, uid ? n : 0, &gone, &ngone, err,
	                                       sizeof(err));
	free(uids);
	if (rc < 0) {
		store_failed(s, c->tag, "expunge", err);
		return;
	}
	imap_view_expunge_uids(s, gone, ngone);
	imap_vault_deleted(s, gone, ngone);
	s->n_expunge += (unsigned)ngone;
	free(gone);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* imap_msg.c: STORE, COPY and MOVE, and their UID forms (RFC 9051 6.4.6-6.4.8,
 * RFC 6851 MOVE, RFC 4315 COPYUID, RFC 7162 UNCHANGEDSINCE / MODIFIED). */
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault.h"
#include "vault/vault_history.h"

/* Resolves the set argument into UIDs (ascending). Returns 0, or -1 with BAD sent. */
static int resolve_uids(struct imap_session *s, struct imap_command *c, const struct imap_arg *a, bool uid,
                        uint32_t **uids, size_t *n, size_t **idx_r)
{
	size_t *idx = NULL;
	const char *err = "Invalid sequence set";
	if (a->type != IMAP_ARG_ATOM || imap_view_resolve(s, a->str, uid, &idx, n, &err) < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
		return -1;
	}
	*uids = xcalloc(*n ? *n : 1, sizeof(**uids));
	for (size_t i = 0; i < *n; i++)
		(*uids)[i] = s->view.v[idx[i]].uid;
	if (idx_r)
		*idx_r = idx;
	else
		free(idx);
	return 0;
}

/* (+|-)FLAGS[.SILENT] */
static int store_op(const char *s, enum store_flags_op *op, bool *silent)
{
	*op = STORE_FLAGS_REPLACE;
	if (*s == '+' || *s == '-') {
		*op = *s == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		s++;
	}
	*silent = str_ieq(s, "FLAGS.SILENT");
	return *silent || str_ieq(s, "FLAGS") ? 0 : -1;
}

static void store_reply_fetch(struct imap_session *s, size_t i, bool uid)
{
	const struct imap_msg *m = &s->view.v[i];
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	imap_flags_format(&b, m->flags, m->keywords, m->recent && !s->enabled_rev2);
	conn_printf(s->conn, "* %zu FETCH (FLAGS (%s)", i + 1, b.data);
	if (uid)
		conn_printf(s->conn, " UID %u", m->uid);
	if (s->enabled_condstore)
		conn_printf(s->conn, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	conn_puts(s->conn, ")\r\n");
	buf_free(&b);
}

/* Parses "(UNCHANGEDSINCE n)" at args[*i] when present. Returns 0 or -1. */
static int store_modifier(struct imap_session *s, struct imap_command *c, size_t *i, uint64_t *since)
{
	const struct imap_arg *a = &c->args[*i];
	if (a->type != IMAP_ARG_LIST)
		return 0;
	if (a->count != 2 || !imap_arg_is_atom(&a->list[0], "UNCHANGEDSINCE") ||
	    a->list[1].type != IMAP_ARG_ATOM || str_to_u64(a->list[1].str, INT64_MAX, since) < 0)
		return -1;
	imap_condstore_enable(s);
	(*i)++;
	return 0;
}

static void store_apply(struct imap_session *s, struct imap_command *c, const uint32_t *uids, size_t *idx,
                        size_t n, const struct store_flags_req *req, bool silent)
{
	bool uid = strcmp(c->name, "UID STORE") == 0;
	struct store_flags_result res;
	memset(&res, 0, sizeof(res));
	char err[256];
	int rc = n ? store_set_flags(s->store, s->view.id, uids, n, req, &res, err, sizeof(err)) : 0;
	if (rc != 0) {
		if (rc < 0)
			log_err("imap.store", "user=%s op=flags error=\"%s\"", s->account.address, err);
		imap_send(s, c->tag, rc < 0 ? IMAP_R_SERVERBUG : IMAP_R_STORE_GONE);
		return;
	}
	bool vault = vault_is_shared_mailbox(s->view.name) && !s->view.shared;
	for (size_t k = 0; k < res.updated.n; k++) {
		const struct store_msg *m = &res.updated.v[k];
		size_t vi = imap_view_find(s, m->uid);
		if (vi == (size_t)-1)
			continue;
		bool was = imap_keywords_masked(s->view.v[vi].keywords),
		     now = imap_keywords_masked(m->keywords);
		if (vault && was != now) /* the patient hid or showed a document: history */
			imap_vault_mask_changed(s, m->uid, now);
		imap_view_set_flags(s, vi, m->flags, m->keywords, m->modseq);
	}
	for (size_t k = 0; k < n && !silent; k++) {
		bool failed = false;
		for (size_t f = 0; f < res.nfailed && !failed; f++)
			failed = res.failed[f] == uids[k];
		if (!failed)
			store_reply_fetch(s, idx[k], uid);
	}
	if (res.nfailed > 0) {
		struct buf set;
		buf_init(&set, BUF_UNLIMITED);
		if (uid) {
			imap_set_format(&set, res.failed, res.nfailed);
		} else {
			for (size_t f = 0; f < res.nfailed; f++) {
				size_t vi = imap_view_find(s, res.failed[f]);
				str_assert(buf_printf(&set, "%s%zu", set.len ? "," : "", vi + 1),
				           "set is BUF_UNLIMITED");
			}
		}
		imap_send_code(s, c->tag, IMAP_R_MODIFIED, NULL, NULL, "%s", set.data);
		buf_free(&set);
	} else {
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
	store_flags_result_free(&res);
}

void cmd_store(struct imap_session *s, struct imap_command *c)
{
	bool uid = strcmp(c->name, "UID STORE") == 0;
	size_t i = 1;
	struct store_flags_req req = {0};
	bool silent;
	if (c->nargs < 3 || store_modifier(s, c, &i, &req.unchangedsince) < 0 || i + 2 != c->nargs ||
	    c->args[i].type != IMAP_ARG_ATOM || store_op(c->args[i].str, &req.op, &silent) < 0) {
		imap_send_text(s, c->tag, IMAP_R_BAD_ARGS, c->name);
		return;
	}
	struct buf kw;
	buf_init(&kw, STORE_KEYWORDS_MAX);
	if (imap_flags_parse(&c->args[i + 1], &req.flags, &kw) < 0) {
		imap_send(s, c->tag, IMAP_R_INVALID_FLAGS);
		buf_free(&kw);
		return;
	}
	req.keywords = kw.len ? kw.data : NULL;
	uint32_t *uids = NULL;
	size_t n = 0, *idx = NULL;
	if (resolve_uids(s, c, &c->args[0], uid, &uids, &n, &idx) == 0) {
		if (s->view.shared)
			imap_vault_refuse(s, c->tag, c->name, "");
		else if (s->view.readonly)
			imap_send(s, c->tag, IMAP_R_READONLY);
		else if (s->view.history && (req.keywords || (req.flags & ~STORE_FLAG_SEEN)))
			imap_send(s, c->tag, IMAP_R_NOPERM_HISTORY_SEEN);
		else if (!imap_vault_store_allowed(s, &req, idx, n))
			imap_send(s, c->tag, IMAP_R_NOPERM_SUPERSEDED);
		else
			store_apply(s, c, uids, idx, n, &req, silent);
	}
	free(uids);
	free(idx);
	buf_free(&kw);
}

static void copy_done(struct imap_session *s, struct imap_command *c, bool move,
                      const struct store_copy_result *res)
{
	struct buf src, dst;
	buf_init(&src, BUF_UNLIMITED);
	buf_init(&dst, BUF_UNLIMITED);
	imap_set_format(&src, res->src_uids, res->n);
	imap_set_format(&dst, res->dst_uids, res->n);
	if (!move) {
		if (res->n)
			imap_send_code(s, c->tag, IMAP_R_COPYUID, NULL, NULL, "%u %s %s",
			               res->dst_uidvalidity, src.data, dst.data);
		else
			imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	} else {
		if (res->n)
			conn_printf(s->conn, "* OK [COPYUID %u %s %s] Moved\r\n", res->dst_uidvalidity,
			            src.data, dst.data);
		imap_view_expunge_uids(s, res->expunged, res->nexpunged);
		s->n_expunge += (unsigned)res->nexpunged;
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
	buf_free(&src);
	buf_free(&dst);
}

/* Whether a COPY of uids into the account would pass its quota (RFC 9208 NO
 * [OVERQUOTA]); the answer is written when so. */
static bool copy_over_quota(struct imap_session *s, struct imap_command *c, const uint32_t *uids, size_t n)
{
	if (s->cfg->quota_storage == 0 || n == 0)
		return false;
	uint64_t adding, used = UINT64_MAX;
	char err[256];
	int rc = store_uids_size(s->store, s->view.id, uids, n, &adding, err, sizeof(err));
	if (rc < 0)
		log_err("imap.store", "user=%s op=quota error=\"%s\"", s->account.address, err);
	if (rc == 0)
		rc = imap_quota_check(s, adding, &used);
	if (rc < 0)
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	else if (rc == 1)
		imap_send(s, c->tag, IMAP_R_OVERQUOTA);
	return rc != 0;
}

void cmd_copy(struct imap_session *s, struct imap_command *c)
{
	bool uid = strncmp(c->name, "UID ", 4) == 0;
	bool move = strcmp(c->name + (uid ? 4 : 0), "MOVE") == 0;
	char name[STORE_MAILBOX_MAX], err[256];
	int arc = c->nargs == 2 ? imap_mailbox_arg(s, &c->args[1], name, sizeof(name)) : -1;
	if (arc == -1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_SET_MAILBOX, c->name);
		return;
	}
	if (arc == -2) {
		imap_send(s, c->tag, IMAP_R_TRYCREATE);
		return;
	}
	if (s->view.shared || imap_vault_name(name)) { /* the vault is read where it is */
		imap_vault_refuse(s, c->tag, c->name, s->view.shared ? "" : name);
		return;
	}
	if (imap_history_protected(s, name) || (move && s->view.history)) {
		imap_send(s, c->tag, IMAP_R_NOPERM_HISTORY);
		return;
	}
	if (imap_documents_protected(s, name) || (move && imap_documents_protected(s, s->view.name))) {
		imap_send(s, c->tag, IMAP_R_NOPERM_DOCUMENTS);
		return;
	}
	if (imap_book_protected(s, name) || (move && imap_book_protected(s, s->view.name))) {
		imap_send(s, c->tag, IMAP_R_NOPERM_BOOK);
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	if (resolve_uids(s, c, &c->args[0], uid, &uids, &n, NULL) < 0)
		return;
	if (move && s->view.readonly) {
		imap_send(s, c->tag, IMAP_R_READONLY);
		free(uids);
		return;
	}
	if (!move && copy_over_quota(s, c, uids, n)) { /* MOVE stays in the account: no change */
		free(uids);
		return;
	}
	struct store_copy_result res;
	memset(&res, 0, sizeof(res));
	bool profile = imap_profile_target(s, name); /* a section: the source goes once filed */
	int rc = n ? store_copy(s->store, s->view.id, uids, n, s->account.address, name, move && !profile,
	                        &res, err, sizeof(err))
	           : 0;
	free(uids);
	if (rc < 0) {
		log_err("imap.store", "user=%s op=copy error=\"%s\"", s->account.address, err);
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	} else if (rc == 1) {
		imap_send(s, c->tag, IMAP_R_TRYCREATE);
	} else if (profile) {
		imap_profile_copied(s, c->tag, c->name, move, &res);
	} else {
		copy_done(s, c, move, &res);
	}
	store_copy_result_free(&res);
}

/* imap_list.c: LIST (RFC 9051 6.3.9 with the LIST-EXTENDED basics of RFC 5258:
 * selection SUBSCRIBED / SPECIAL-USE, RETURN SUBSCRIBED / CHILDREN / SPECIAL-USE /
 * STATUS), LSUB and NAMESPACE. The store lists every mailbox; matching patterns and
 * deriving \HasChildren / \Noselect happen here, on UTF-8 names. */
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define LIST_SEL_SUBSCRIBED 0x01u
#define LIST_SEL_SPECIALUSE 0x02u
#define LIST_RET_SUBSCRIBED 0x04u
#define LIST_RET_STATUS 0x08u
#define LIST_LSUB 0x10u
#define LIST_SEL_RECURSIVE 0x20u /* RECURSIVEMATCH (RFC 5258 3.1) */

struct list_req {
	unsigned opts;
	char ref[STORE_MAILBOX_MAX];
	char *patterns[32];
	size_t npatterns;
	const struct imap_arg *status_items;
};

/* '*' matches anything, '%' anything but the delimiter (RFC 9051 6.3.9). Computed
 * row by row over the pattern (O(pattern x name)), so that patterns full of wildcards
 * cannot make matching exponential. */
static bool match(const char *pat, const char *name)
{
	size_t n = strlen(name);
	if (n >= STORE_MAILBOX_MAX)
		return false;
	bool row[STORE_MAILBOX_MAX + 1], next[STORE_MAILBOX_MAX + 1];
	memset(row, 0, sizeof(row));
	row[0] = true;
	for (; *pat; pat++) {
		memset(next, 0, sizeof(next));
		if (*pat == '*' || *pat == '%') {
			bool reach = false;
			for (size_t j = 0; j <= n; j++) {
				if (*pat == '%' && j > 0 && name[j - 1] == '/')
					reach = false;
				reach = reach || row[j];
				next[j] = reach;
			}
		} else {
			for (size_t j = 0; j < n; j++)
				next[j + 1] = row[j] && name[j] == *pat;
		}
		memcpy(row, next, sizeof(row));
	}
	return row[n];
}

/* INBOX is case-insensitive, also as the first level of a pattern. */
static void canonical_inbox(char *pat)
{
	if (str_ieqn(pat, "INBOX", 5) && (pat[5] == '\0' || pat[5] == '/'))
		memcpy(pat, "INBOX", 5);
}

static bool matches_any(const struct list_req *r, const char *name)
{
	for (size_t i = 0; i < r->npatterns; i++)
		if (match(r->patterns[i], name))
			return true;
	return false;
}

static bool has_children(const struct store_mailbox_list *l, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i].name, name, n) == 0 && l->v[i].name[n] == '/')
			return true;
	return false;
}

static const struct store_mailbox *find(const struct store_mailbox_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static void special_use_attrs(struct buf *b, unsigned su)
{
	static const struct {
		unsigned bit;
		const char *name;
	} t[] = {{STORE_SPECIAL_SENT, "\\Sent"},
	         {STORE_SPECIAL_DRAFTS, "\\Drafts"},
	         {STORE_SPECIAL_TRASH, "\\Trash"},
	         {STORE_SPECIAL_JUNK, "\\Junk"},
	         {STORE_SPECIAL_ARCHIVE, "\\Archive"}};
	int rc = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (su & t[i].bit)
			rc |= buf_printf(b, " %s", t[i].name);
	str_assert(rc, "list_line's b is BUF_UNLIMITED");
}

/* How one name is listed. */
struct list_entry {
	const char *name;
	const struct store_mailbox *mb; /* NULL: no such mailbox */
	bool subscribed;
	bool noselect;  /* LSUB of an unsubscribed parent (RFC 3501 6.3.9) */
	bool childinfo; /* RECURSIVEMATCH: a subscribed child is not listed (RFC 5258 3.5) */
};

/* Writes one LIST/LSUB line. */
static void list_line(struct imap_session *s, const struct list_req *r, const struct store_mailbox_list *l,
                      const struct list_entry *e)
{
	struct buf b;
	int rc = 0;
	buf_init(&b, BUF_UNLIMITED);
	/* \NonExistent is RFC 5258's, for LIST-EXTENDED and IMAP4rev2 clients; a plain
	 * LIST from a client that did not enable IMAP4rev2 gets RFC 3501's \Noselect, the
	 * only one it knows (mbsync otherwise tries to open the placeholder, and fails) */
	bool rev1 =
	    !s->enabled_rev2 && !(r->opts & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIALUSE | LIST_SEL_RECURSIVE |
	                                     LIST_RET_SUBSCRIBED | LIST_RET_STATUS));
	if (e->noselect || (e->mb == NULL && ((r->opts & LIST_LSUB) || rev1)))
		rc |= buf_append_str(&b, " \\Noselect");
	else if (e->mb == NULL)
		rc |= buf_append_str(&b, " \\NonExistent");
	if (!(r->opts & LIST_LSUB))
		rc |= buf_append_str(&b, has_children(l, e->name) ? " \\HasChildren" : " \\HasNoChildren");
	if (e->subscribed && (r->opts & (LIST_RET_SUBSCRIBED | LIST_SEL_SUBSCRIBED)))
		rc |= buf_append_str(&b, " \\Subscribed");
	str_assert(rc, "b is BUF_UNLIMITED");
	if (e->mb)
		special_use_attrs(&b, e->mb->special_use);
	conn_printf(s->conn, "* %s (%s) \"/\" ", (r->opts & LIST_LSUB) ? "LSUB" : "LIST",
	            b.len ? b.data + 1 : "");
	imap_write_mailbox(s, e->name);
	if (e->childinfo)
		conn_puts(s->conn, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	conn_puts(s->conn, "\r\n");
	buf_free(&b);
	if (e->mb && (r->opts & LIST_RET_STATUS)) {
		const char *err;
		imap_status_write(s, e->name, r->status_items, &err);
	}
}

struct name_set {
	char **v;
	size_t n, cap;
};

static bool name_set_has(const struct name_set *ns, const char *name)
{
	for (size_t k = 0; k < ns->n; k++)
		if (strcmp(ns->v[k], name) == 0)
			return true;
	return false;
}

/* Adds name; false when it was already there. */
static bool name_set_add(struct name_set *ns, const char *name)
{
	if (name_set_has(ns, name))
		return false;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = xrealloc(ns->v, ns->cap * sizeof(*ns->v));
	}
	ns->v[ns->n++] = xstrdup(name);
	return true;
}

static void name_set_free(struct name_set *ns)
{
	for (size_t k = 0; k < ns->n; k++)
		free(ns->v[k]);
	free(ns->v);
}

/* The parent levels of a listed mailbox that do not exist themselves, so that '%'
 * still shows the hierarchy (RFC 9051 6.3.9: \NonExistent). */
static void list_missing_parents(struct imap_session *s, const struct list_req *r,
                                 const struct store_mailbox_list *l, const char *full, struct name_set *seen)
{
	if (r->opts & LIST_SEL_SPECIALUSE)
		return;
	char name[STORE_MAILBOX_MAX];
	str_assert(str_copy(name, sizeof(name), full), "a store name, STORE_MAILBOX_MAX both");
	for (char *slash = strchr(name, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (find(l, name) == NULL && matches_any(r, name) && name_set_add(seen, name)) {
			struct list_entry e = {.name = name};
			list_line(s, r, l, &e);
		}
		*slash = '/';
	}
}

/* LIST without the SUBSCRIBED selection: the mailboxes that exist. */
static void list_existing(struct imap_session *s, const struct list_req *r,
                          const struct store_mailbox_list *l)
{
	struct name_set seen = {0};
	for (size_t i = 0; i < l->n; i++) {
		const struct store_mailbox *mb = &l->v[i];
		if ((r->opts & LIST_SEL_SPECIALUSE) && mb->special_use == 0)
			continue;
		list_missing_parents(s, r, l, mb->name, &seen);
		if (!matches_any(r, mb->name))
			continue;
		struct list_entry e = {.name = mb->name, .mb = mb, .subscribed = mb->subscribed};
		list_line(s, r, l, &e);
	}
	name_set_free(&seen);
}

/* The subscribed names (existing mailboxes and names whose mailbox is gone). */
static void subscribed_names(const struct store_mailbox_list *l, struct name_set *out)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].subscribed)
			name_set_add(out, l->v[i].name);
	for (size_t i = 0; i < l->nsubscribed_only; i++)
		name_set_add(out, l->subscribed_only[i]);
}

/* A parent of a subscribed name that the pattern does not match: LSUB lists it as
 * \Noselect (RFC 3501 6.3.9), LIST (SUBSCRIBED RECURSIVEMATCH) with CHILDINFO (RFC
 * 5258 3.5), unless it is itself subscribed and so listed anyway. */
static void list_sub_parents(struct imap_session *s, const struct list_req *r,
                             const struct store_mailbox_list *l, const struct name_set *subs,
                             const char *child, struct name_set *seen)
{
	char name[STORE_MAILBOX_MAX];
	str_assert(str_copy(name, sizeof(name), child), "a subscribed name, STORE_MAILBOX_MAX both");
	for (char *slash = strchr(name, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (!name_set_has(subs, name) && matches_any(r, name) && name_set_add(seen, name)) {
			struct list_entry e = {.name = name, .mb = find(l, name)};
			if (r->opts & LIST_LSUB)
				e.noselect = true;
			else
				e.childinfo = true;
			list_line(s, r, l, &e);
		}
		*slash = '/';
	}
}

/* LSUB and LIST (SUBSCRIBED ...): the subscriptions, existing mailboxes or not. */
static void list_subscribed(struct imap_session *s, const struct list_req *r,
                            const struct store_mailbox_list *l)
{
	struct name_set subs = {0}, seen = {0};
	subscribed_names(l, &subs);
	bool parents = (r->opts & LIST_LSUB) || (r->opts & LIST_SEL_RECURSIVE);
	for (size_t i = 0; i < subs.n; i++) {
		const struct store_mailbox *mb = find(l, subs.v[i]);
		if ((r->opts & LIST_SEL_SPECIALUSE) && (mb == NULL || mb->special_use == 0))
			continue;
		if (matches_any(r, subs.v[i])) {
			struct list_entry e = {.name = subs.v[i], .mb = mb, .subscribed = true};
			list_line(s, r, l, &e);
		} else if (parents) {
			list_sub_parents(s, r, l, &subs, subs.v[i], &seen);
		}
	}
	name_set_free(&subs);
	name_set_free(&seen);
}

static void list_all(struct imap_session *s, const struct list_req *r, const struct store_mailbox_list *l)
{
	if (r->opts & (LIST_LSUB | LIST_SEL_SUBSCRIBED))
		list_subscribed(s, r, l);
	else
		list_existing(s, r, l);
}

static int parse_selection(struct list_req *r, const struct imap_arg *a)
{
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_is_atom(o, "SUBSCRIBED"))
			r->opts |= LIST_SEL_SUBSCRIBED | LIST_RET_SUBSCRIBED;
		else if (imap_arg_is_atom(o, "SPECIAL-USE"))
			r->opts |= LIST_SEL_SPECIALUSE;
		else if (imap_arg_is_atom(o, "RECURSIVEMATCH"))
			r->opts |= LIST_SEL_RECURSIVE;
		else if (imap_arg_is_atom(o, "REMOTE"))
			continue; /* no remote mailboxes here */
		else
			return -1;
	}
	/* RECURSIVEMATCH needs another selection option (RFC 5258 3) */
	if ((r->opts & LIST_SEL_RECURSIVE) && !(r->opts & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIALUSE)))
		return -1;
	return 0;
}

static int parse_return(struct list_req *r, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_is_atom(o, "SUBSCRIBED")) {
			r->opts |= LIST_RET_SUBSCRIBED;
		} else if (imap_arg_is_atom(o, "CHILDREN") || imap_arg_is_atom(o, "SPECIAL-USE")) {
			continue; /* always returned */
		} else if (imap_arg_is_atom(o, "STATUS") && i + 1 < a->count &&
		           a->list[i + 1].type == IMAP_ARG_LIST) {
			r->opts |= LIST_RET_STATUS;
			r->status_items = &a->list[++i];
		} else {
			return -1;
		}
	}
	return 0;
}

/* Adds one pattern (decoded like a mailbox name, the reference prefixed). */
static int add_pattern(struct imap_session *s, struct list_req *r, const struct imap_arg *a)
{
	char pat[STORE_MAILBOX_MAX], full[STORE_MAILBOX_MAX * 2];
	if (r->npatterns >= sizeof(r->patterns) / sizeof(r->patterns[0]))
		return -1;
	int rc = imap_mailbox_arg(s, a, pat, sizeof(pat));
	if (rc == -2)
		return 0; /* no mailbox has a name that is not valid modified UTF-7: it matches none */
	if (rc < 0)
		return -1;
	if (str_format(full, sizeof(full), "%s%s", r->ref, pat) < 0)
		return -1;
	canonical_inbox(full);
	r->patterns[r->npatterns++] = xstrdup(full);
	return 0;
}

static int parse_list_args(struct imap_session *s, struct imap_command *c, struct list_req *r)
{
	size_t i = 0;
	if (c->nargs > 0 && c->args[0].type == IMAP_ARG_LIST) {
		if (r->opts & LIST_LSUB || parse_selection(r, &c->args[0]) < 0)
			return -1;
		i++;
	}
	if (c->nargs < i + 2 || imap_mailbox_arg(s, &c->args[i], r->ref, sizeof(r->ref)) < 0)
		return -1;
	const struct imap_arg *p = &c->args[i + 1];
	if (p->type == IMAP_ARG_LIST && !(r->opts & LIST_LSUB)) {
		if (p->count == 0)
			return -1;
		for (size_t k = 0; k < p->count; k++)
			if (add_pattern(s, r, &p->list[k]) < 0)
				return -1;
	} else if (add_pattern(s, r, p) < 0) {
		return -1;
	}
	i += 2;
	if (i < c->nargs && imap_arg_is_atom(&c->args[i], "RETURN") && i + 2 == c->nargs &&
	    !(r->opts & LIST_LSUB)) {
		if (parse_return(r, &c->args[i + 1]) < 0)
			return -1;
		i += 2;
	}
	return i == c->nargs ? 0 : -1;
}

void cmd_list(struct imap_session *s, struct imap_command *c)
{
	struct list_req r;
	memset(&r, 0, sizeof(r));
	if (strcmp(c->name, "LSUB") == 0)
		r.opts |= LIST_LSUB;
	if (parse_list_args(s, c, &r) < 0) {
		imap_send_text(s, c->tag, IMAP_R_BAD_ARGS, c->name);
		goto out;
	}
	if (r.npatterns == 1 && r.patterns[0][0] == '\0' && !(r.opts & LIST_LSUB)) {
		/* LIST "" "": the hierarchy delimiter and root (RFC 9051 6.3.9) */
		conn_puts(s->conn, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
		goto out;
	}
	struct store_mailbox_list l = {0};
	char err[256];
	if (store_mailbox_list(s->store, s->account.address, &l, err, sizeof(err)) < 0) {
		log_err("imap.store", "user=%s op=list error=\"%s\"", s->account.address, err);
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
		goto out;
	}
	if (imap_vault_list(s, &l) < 0)
		log_err("imap.list", "user=%s error=vault", s->account.address);
	list_all(s, &r, &l);
	store_mailbox_list_free(&l);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
out:
	for (size_t i = 0; i < r.npatterns; i++)
		free(r.patterns[i]);
}

void cmd_namespace(struct imap_session *s, struct imap_command *c)
{
	if (s->account.role == ROLE_PATIENT)
		conn_puts(s->conn, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	else /* professionals read granted vaults under Patients/ (RFC 2342 shared) */
		conn_puts(s->conn,
		          "* NAMESPACE ((\"\" \"/\")) NIL ((\"" IMAP_VAULT_NAMESPACE "/\" \"/\"))\r\n");
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

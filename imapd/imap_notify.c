/* imap_notify.c: NOTIFY (RFC 5465), see imap_notify.h. */
#include "imapd/imap_notify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_fetch_items.h"
#include "imap/imap_notify_args.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_kick.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

/* What this server reports (RFC 5465 5): no ANNOTATE, no METADATA. */
#define SUPPORTED                                                                                            \
	(IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE |                   \
	 IMAP_NOTIFY_MAILBOX_NAME | IMAP_NOTIFY_SUBSCRIPTION_CHANGE)
#define CHANGED_MAX 64 /* mailbox ids taken from one wake-up; more: every mailbox is read */

/* One watched mailbox as last told (or, before the first change, as found). */
struct nbox {
	char name[STORE_MAILBOX_MAX]; /* UTF-8, as the client names it ("Patients/..." shared) */
	int64_t id;
	unsigned events; /* IMAP_NOTIFY_* of the groups that name it */
	bool subscribed;
	bool shared;
	bool known; /* the counts below were read */
	bool gone;  /* no longer readable (a grant withdrawn): dropped silently */
	uint32_t messages, uidnext, uidvalidity, unseen;
	uint64_t highestmodseq;
};

struct ngroup {
	enum imap_notify_filter filter;
	unsigned events;
	char (*names)[STORE_MAILBOX_MAX];
	size_t nnames;
};

enum nev_kind { NEV_STATUS, NEV_CREATED, NEV_GONE, NEV_RENAMED, NEV_SUBSCRIPTION };

/* A queued notification: an index into the new snapshot (i) and/or the old one (j). */
struct nev {
	enum nev_kind kind;
	size_t i, j;
};

struct imap_notify {
	int fd; /* store_watch_all_open, -1: none (every mailbox read after each command) */
	bool selected, selected_delayed;
	unsigned selected_events;
	struct imap_fetch_request *fetch; /* MessageNew's attributes, NULL */
	struct ngroup groups[IMAP_NOTIFY_GROUPS_MAX];
	size_t ngroups;
	struct nbox *box;
	size_t nbox;
	bool list_dirty; /* a mailbox was created, deleted or renamed: list them again */
	struct nev *q;   /* this wake-up's notifications, at most imap_notify_max_events */
	size_t nq;
	bool overflow;
};

/* ---- which mailboxes, which events ---- */

static bool in_subtree(const char *name, const char *root)
{
	size_t n = strlen(root);
	return strncmp(name, root, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/* RFC 5465 6: the events of every group whose filter takes the mailbox. */
static unsigned events_for(const struct imap_notify *n, const char *name, bool subscribed, bool shared)
{
	unsigned ev = 0;
	for (size_t g = 0; g < n->ngroups; g++) {
		const struct ngroup *gr = &n->groups[g];
		bool take = false;
		switch (gr->filter) {
		case IMAP_NOTIFY_INBOXES: /* mail is delivered into INBOX only */
			take = !shared && strcmp(name, "INBOX") == 0;
			break;
		case IMAP_NOTIFY_PERSONAL:
			take = !shared;
			break;
		case IMAP_NOTIFY_SUBSCRIBED:
			take = subscribed;
			break;
		case IMAP_NOTIFY_SUBTREE:
			for (size_t k = 0; k < gr->nnames && !take; k++)
				take = in_subtree(name, gr->names[k]);
			break;
		case IMAP_NOTIFY_MAILBOXES:
			for (size_t k = 0; k < gr->nnames && !take; k++)
				take = strcmp(name, gr->names[k]) == 0;
			break;
		}
		if (take)
			ev |= gr->events;
	}
	return ev;
}

static bool is_selected(const struct imap_session *s, const struct nbox *b)
{
	return s->view.open && s->view.id == b->id;
}

/* The mailboxes to watch now: the account's own and the shared folders LIST shows.
 * Returns 0, -1 (database error, logged), -2 (more than imap_notify_max_mailboxes). */
static int list_boxes(struct imap_session *s, const struct imap_notify *n, struct nbox **out, size_t *nout)
{
	struct store_mailbox_list l = {0};
	char err[256];
	*out = NULL;
	*nout = 0;
	if (store_mailbox_list(s->store, s->account.address, &l, err, sizeof(err)) < 0) {
		log_err("imap.notify", "user=%s op=list error=\"%s\"", s->account.address, err);
		return -1;
	}
	size_t own = l.n;
	if (imap_vault_list(s, &l) < 0) {
		log_err("imap.notify", "user=%s op=vault_list error=\"database\"", s->account.address);
		store_mailbox_list_free(&l);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		bool shared = i >= own;
		unsigned ev = events_for(n, l.v[i].name, l.v[i].subscribed, shared);
		if (ev == 0)
			continue;
		if (*nout == s->cfg->imap_notify_max_mailboxes) {
			rc = -2;
			break;
		}
		*out = xrealloc(*out, (*nout + 1) * sizeof(**out));
		struct nbox *b = &(*out)[(*nout)++];
		memset(b, 0, sizeof(*b));
		str_assert(str_copy(b->name, sizeof(b->name), l.v[i].name), "STORE_MAILBOX_MAX both");
		b->id = l.v[i].id;
		b->events = ev;
		b->subscribed = l.v[i].subscribed;
		b->shared = shared;
	}
	store_mailbox_list_free(&l);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*nout = 0;
	}
	return rc;
}

/* The counts of b as the session may see them. Returns 1, 0 when it is gone or no
 * longer visible, -1 on a database error (logged). */
static int box_status(struct imap_session *s, struct nbox *b, struct store_mailbox *mb)
{
	char err[256] = "";
	struct imap_target t;
	int rc = imap_vault_resolve(s, b->name, &t, "NOTIFY"); /* the grant, checked now */
	if (rc == 0) {
		b->gone = true; /* a withdrawn grant: nothing more about this folder */
		return 0;
	}
	if (rc > 0 && t.shared)
		rc = imap_vault_status(s, &t, mb);
	else if (rc > 0)
		rc = store_mailbox_status(s->store, t.owner, t.name, mb, err, sizeof(err));
	if (rc < 0)
		log_err("imap.notify", "user=%s op=status error=\"%s\"", s->account.address, err);
	return rc;
}

/* ---- the queue ---- */

static void queue(struct imap_session *s, struct imap_notify *n, enum nev_kind kind, size_t i, size_t j)
{
	if (n->overflow)
		return;
	if (n->nq == s->cfg->imap_notify_max_events) {
		n->overflow = true;
		return;
	}
	n->q[n->nq++] = (struct nev){kind, i, j};
}

/* Whether a change of counts is one of the events b asks for (RFC 5465 5.2 to 5.4). */
static bool status_event(const struct nbox *b, const struct store_mailbox *mb)
{
	if (mb->uidvalidity != b->uidvalidity)
		return true;
	uint32_t added = mb->uidnext - b->uidnext;
	if ((b->events & IMAP_NOTIFY_MESSAGE_NEW) && added > 0)
		return true;
	if ((b->events & IMAP_NOTIFY_MESSAGE_EXPUNGE) &&
	    (uint64_t)mb->messages < (uint64_t)b->messages + added)
		return true;
	return (b->events & IMAP_NOTIFY_FLAG_CHANGE) &&
	       (mb->unseen != b->unseen || mb->highestmodseq != b->highestmodseq);
}

static void box_set(struct nbox *b, const struct store_mailbox *mb)
{
	b->known = true;
	b->messages = mb->messages;
	b->uidnext = mb->uidnext;
	b->uidvalidity = mb->uidvalidity;
	b->unseen = mb->unseen;
	b->highestmodseq = mb->highestmodseq;
}

static bool changed(int64_t id, const int64_t *ids, size_t nids, bool all)
{
	if (all)
		return true;
	for (size_t k = 0; k < nids; k++)
		if (ids[k] == id)
			return true;
	return false;
}

/* Reads the counts of the watched mailboxes that changed (and of those new to the
 * watch); queues a STATUS for those whose change is an event asked for. */
static void check_counts(struct imap_session *s, struct imap_notify *n, const int64_t *ids, size_t nids,
                         bool all)
{
	for (size_t i = 0; i < n->nbox; i++) {
		struct nbox *b = &n->box[i];
		if (!(b->events & IMAP_NOTIFY_MESSAGE_EVENTS) || b->gone ||
		    (b->known && !changed(b->id, ids, nids, all)))
			continue; /* a mailbox new to the watch: its counts are the baseline */
		struct store_mailbox mb;
		int rc = box_status(s, b, &mb);
		if (rc == 0 && !b->gone)
			n->list_dirty = true; /* renamed, deleted, or its last document masked */
		if (rc != 1)
			continue;
		if (b->known && !is_selected(s, b) && status_event(b, &mb))
			queue(s, n, NEV_STATUS, i, 0);
		box_set(b, &mb);
	}
}

static size_t find_id(const struct nbox *v, size_t n, int64_t id)
{
	for (size_t k = 0; k < n; k++)
		if (v[k].id == id)
			return k;
	return (size_t)-1;
}

/* Compares the new list of mailboxes with the old one: MailboxName (created, deleted,
 * renamed) and SubscriptionChange (RFC 5465 5.4, 5.5); counts carry over by id. */
static void diff_lists(struct imap_session *s, struct imap_notify *n, struct nbox *nv, size_t nn)
{
	for (size_t i = 0; i < nn; i++) {
		size_t j = find_id(n->box, n->nbox, nv[i].id);
		if (j == (size_t)-1) {
			if (nv[i].events & IMAP_NOTIFY_MAILBOX_NAME)
				queue(s, n, NEV_CREATED, i, 0);
			continue;
		}
		const struct nbox *o = &n->box[j];
		if (o->known) {
			nv[i].known = true;
			nv[i].messages = o->messages;
			nv[i].uidnext = o->uidnext;
			nv[i].uidvalidity = o->uidvalidity;
			nv[i].unseen = o->unseen;
			nv[i].highestmodseq = o->highestmodseq;
		}
		if (strcmp(o->name, nv[i].name) != 0 &&
		    ((o->events | nv[i].events) & IMAP_NOTIFY_MAILBOX_NAME))
			queue(s, n, NEV_RENAMED, i, j);
		else if (o->subscribed != nv[i].subscribed &&
		         (nv[i].events & IMAP_NOTIFY_SUBSCRIPTION_CHANGE))
			queue(s, n, NEV_SUBSCRIPTION, i, 0);
	}
	for (size_t j = 0; j < n->nbox; j++)
		if (!n->box[j].gone && find_id(nv, nn, n->box[j].id) == (size_t)-1 &&
		    (n->box[j].events & IMAP_NOTIFY_MAILBOX_NAME))
			queue(s, n, NEV_GONE, 0, j);
}

/* ---- writing ---- */

static void write_status(struct imap_session *s, const struct nbox *b)
{
	conn_puts(s->conn, "* STATUS ");
	imap_write_mailbox(s, b->name);
	conn_printf(s->conn, " (MESSAGES %u UIDNEXT %u UIDVALIDITY %u UNSEEN %u", b->messages, b->uidnext,
	            b->uidvalidity, b->unseen);
	if (b->events & IMAP_NOTIFY_FLAG_CHANGE)
		conn_printf(s->conn, " HIGHESTMODSEQ %llu", (unsigned long long)b->highestmodseq);
	conn_puts(s->conn, ")\r\n");
}

/* "* LIST (attrs) "/" name", with the old name after a rename (RFC 5465 5.4). */
static void write_list(struct imap_session *s, const char *attrs, const char *name, const char *oldname)
{
	conn_printf(s->conn, "* LIST (%s) \"/\" ", attrs);
	imap_write_mailbox(s, name);
	if (oldname != NULL) {
		conn_puts(s->conn, " (\"OLDNAME\" (");
		imap_write_mailbox(s, oldname);
		conn_puts(s->conn, "))");
	}
	conn_puts(s->conn, "\r\n");
}

static void write_event(struct imap_session *s, const struct nbox *nv, const struct nbox *ov,
                        const struct nev *e)
{
	const struct nbox *b = &nv[e->i];
	switch (e->kind) {
	case NEV_STATUS:
		write_status(s, b);
		break;
	case NEV_CREATED:
	case NEV_SUBSCRIPTION:
		write_list(s, b->subscribed ? "\\Subscribed" : "", b->name, NULL);
		break;
	case NEV_RENAMED:
		write_list(s, b->subscribed ? "\\Subscribed" : "", b->name, ov[e->j].name);
		break;
	case NEV_GONE:
		write_list(s, "\\NonExistent", ov[e->j].name, NULL);
		break;
	}
}

static void notify_off(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	if (n == NULL)
		return;
	if (n->fd >= 0)
		store_watch_close(n->fd);
	if (n->fetch != NULL) {
		imap_fetch_request_free(n->fetch);
		free(n->fetch);
	}
	for (size_t g = 0; g < n->ngroups; g++)
		free(n->groups[g].names);
	free(n->box);
	free(n->q);
	free(n);
	s->notify = NULL;
}

void imap_notify_free(struct imap_session *s)
{
	notify_off(s);
}

int imap_notify_fd(const struct imap_session *s)
{
	return s->notify != NULL ? s->notify->fd : -1;
}

/* ---- one round ---- */

/* The selected mailbox's events outside a command (RFC 5465 6.1): SELECTED only;
 * SELECTED-DELAYED waits for the next command, as without NOTIFY. */
static void round_selected(struct imap_session *s, struct imap_notify *n, const int64_t *ids, size_t nids,
                           bool all)
{
	if (!s->view.open || !n->selected || n->selected_delayed || n->selected_events == 0 ||
	    !changed(s->view.id, ids, nids, all))
		return;
	uint32_t before = s->view.uidnext;
	if (imap_view_sync(s, true) == 0)
		imap_notify_selected_new(s, before);
}

/* Which of the changed mailboxes call for listing the mailboxes again: one not watched
 * yet that is the account's own (created, or subscribed), or a watched one whose name
 * or subscription events were asked for (renamed, deleted, subscription changed). */
static void note_changes(struct imap_session *s, struct imap_notify *n, const int64_t *ids, size_t nids)
{
	char err[256];
	for (size_t k = 0; k < nids && !n->list_dirty; k++) {
		size_t i = find_id(n->box, n->nbox, ids[k]);
		if (i != (size_t)-1)
			n->list_dirty = (n->box[i].events & IMAP_NOTIFY_NAME_EVENTS) != 0;
		else if (store_mailbox_owned_by(s->store, ids[k], s->account.address, err, sizeof(err)) != 0)
			n->list_dirty = true; /* an error too: listing again is always right */
	}
}

static void round_run(struct imap_session *s, const int64_t *ids, size_t nids, bool all)
{
	struct imap_notify *n = s->notify;
	n->nq = 0;
	n->overflow = false;
	note_changes(s, n, ids, nids);
	struct nbox *old = n->box;
	bool rebuilt = false;
	if (n->list_dirty || all) {
		struct nbox *nv;
		size_t nn;
		int rc = list_boxes(s, n, &nv, &nn);
		if (rc == -2)
			n->overflow = true;
		if (rc == 0) {
			diff_lists(s, n, nv, nn);
			n->box = nv;
			n->nbox = nn;
			n->list_dirty = false;
			rebuilt = true;
		}
	}
	if (!n->overflow)
		check_counts(s, n, ids, nids, all);
	if (n->overflow) {
		/* RFC 5465 5.8: the client must resynchronise; NOTIFY ends here */
		if (rebuilt)
			free(old);
		conn_puts(s->conn, "* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off\r\n");
		log_info("imap.notify_overflow", "user=%s limit=%u", s->account.address,
		         s->cfg->imap_notify_max_events);
		notify_off(s);
		return;
	}
	for (size_t k = 0; k < n->nq; k++)
		write_event(s, n->box, old, &n->q[k]);
	n->nq = 0;
	if (rebuilt)
		free(old);
	round_selected(s, n, ids, nids, all);
}

void imap_notify_poll(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	if (n == NULL || s->close_after_reply)
		return;
	int64_t ids[CHANGED_MAX];
	size_t nids = 0;
	bool more = false;
	if (n->fd < 0) {
		round_run(s, NULL, 0, true); /* no watch: look at everything */
		return;
	}
	int rc = store_watch_all_drain(n->fd, ids, CHANGED_MAX, &nids, &more);
	if (rc < 0 || more || nids > 0) /* not for the run directory's other files */
		round_run(s, ids, nids, more || rc < 0);
	else if (n->list_dirty)
		round_run(s, NULL, 0, false);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int imap_notify_wait(struct imap_session *s, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	for (;;) {
		imap_notify_poll(s);
		if (conn_flush(s->conn) < 0)
			return -1;
		long left = deadline - now_ms();
		int rc = imap_wait(s, imap_notify_fd(s), left > 0 ? (int)left : 0);
		if (rc != 2)
			return rc;
	}
}

void imap_notify_selected_new(struct imap_session *s, uint32_t old_uidnext)
{
	struct imap_notify *n = s->notify;
	if (n == NULL || n->fetch == NULL || !n->selected || !(n->selected_events & IMAP_NOTIFY_MESSAGE_NEW))
		return;
	size_t first = s->view.n;
	while (first > 0 && s->view.v[first - 1].uid >= old_uidnext)
		first--;
	for (size_t i = first; i < s->view.n && !s->close_after_reply; i++)
		imap_fetch_notify(s, n->fetch, i);
}

/* ---- the command ---- */

static void badevent(struct imap_session *s, const char *tag)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int rc = 0;
	for (unsigned bit = 1; bit <= IMAP_NOTIFY_SERVER_METADATA_CHANGE; bit <<= 1)
		if (bit & SUPPORTED)
			rc |= buf_printf(&b, "%s%s", b.len ? " " : "", imap_notify_event_name(bit));
	str_assert(rc, "b is BUF_UNLIMITED");
	/* RFC 5465 3.1: the code lists the events the server can report */
	imap_send_code(s, tag, IMAP_R_BADEVENT, NULL, NULL, "(%s)", b.data);
	buf_free(&b);
}

/* The request kept beyond the command: names decoded, fetch attributes parsed.
 * Returns 0, or -1 with err for BAD. */
static int keep_request(struct imap_session *s, const struct imap_notify_request *r, struct imap_notify *n,
                        const char **err)
{
	n->selected = r->selected;
	n->selected_delayed = r->selected_delayed;
	n->selected_events = r->selected_events;
	if (r->fetch_att != NULL) {
		n->fetch = xcalloc(1, sizeof(*n->fetch));
		if (imap_fetch_parse(r->fetch_att, NULL, true, n->fetch, err) < 0)
			return -1;
	}
	for (size_t g = 0; g < r->ngroups; g++) {
		const struct imap_notify_group *rg = &r->groups[g];
		struct ngroup *gr = &n->groups[n->ngroups++];
		gr->filter = rg->filter;
		gr->events = rg->events;
		gr->names = rg->nnames ? xcalloc(rg->nnames, sizeof(*gr->names)) : NULL;
		for (size_t k = 0; k < rg->nnames; k++) {
			if (imap_mailbox_arg(s, rg->names[k], gr->names[k], sizeof(gr->names[k])) < 0) {
				*err = "Invalid mailbox name";
				return -1;
			}
			gr->nnames++;
		}
	}
	return 0;
}

/* NOTIFY SET STATUS: the counts of every watched mailbox now (RFC 5465 3.1); also
 * the baseline later changes are compared with. */
static void initial_status(struct imap_session *s, struct imap_notify *n, bool send)
{
	for (size_t i = 0; i < n->nbox; i++) {
		struct nbox *b = &n->box[i];
		struct store_mailbox mb;
		if (!(b->events & IMAP_NOTIFY_MESSAGE_EVENTS) || box_status(s, b, &mb) != 1)
			continue;
		box_set(b, &mb);
		if (send && !is_selected(s, b))
			write_status(s, b);
	}
}

static void notify_set(struct imap_session *s, const char *tag, const struct imap_notify_request *r)
{
	struct imap_notify *n = xcalloc(1, sizeof(*n));
	n->fd = -1;
	const char *err = NULL;
	notify_off(s);
	s->notify = n;
	if (keep_request(s, r, n, &err) < 0) {
		notify_off(s);
		imap_send_text(s, tag, IMAP_R_SYNTAX, err);
		return;
	}
	int rc = list_boxes(s, n, &n->box, &n->nbox);
	if (rc < 0) {
		notify_off(s);
		if (rc == -2)
			imap_send(s, tag, IMAP_R_NOTIFICATIONOVERFLOW);
		else
			imap_send(s, tag, IMAP_R_SERVERBUG);
		return;
	}
	n->q = xcalloc(s->cfg->imap_notify_max_events, sizeof(*n->q));
	char werr[256];
	n->fd = store_watch_all_open(s->store, werr, sizeof(werr));
	if (n->fd < 0) /* then every mailbox is read after each command */
		log_warn("imap.notify", "user=%s error=\"%s\"", s->account.address, werr);
	initial_status(s, n, r->status);
	imap_send(s, tag, IMAP_R_NOTIFY_DONE);
}

void cmd_notify(struct imap_session *s, struct imap_command *c)
{
	struct imap_notify_request *r = xcalloc(1, sizeof(*r));
	const char *err = NULL;
	if (imap_notify_parse(c->args, c->nargs, SUPPORTED, r, &err) < 0)
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
	else if (r->unsupported)
		badevent(s, c->tag);
	else if (r->none) {
		notify_off(s);
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	} else
		notify_set(s, c->tag, r);
	free(r);
}

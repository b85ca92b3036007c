/* ctl_queue.c: mssctl queue list | show ID | flush [ID] | delete ID: the outbound
 * queue (queue/queue.h). Envelopes and states only: a queued message's content stays
 * encrypted. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "lib/str.h"
#include "queue/queue.h"

static const char *next_text(const struct queue_rcpt *r, int64_t now, char *buf, size_t len)
{
	if (r->next_attempt <= now)
		return "due now";
	return ctl_date(r->next_attempt, buf, len);
}

/* Who holds r's claim, for queue show: "" when nobody does. */
static const char *claim_text(const struct queue_rcpt *r, char *buf, size_t len)
{
	if (r->claim_owner[0] == '\0')
		return "";
	long pid = queue_owner_pid(r->claim_owner);
	switch (queue_owner_state(r->claim_owner)) {
	case QUEUE_OWNER_ALIVE:
		str_error(buf, len, " claimed by the running queue process %ld (being sent or about to be)",
		          pid);
		break;
	case QUEUE_OWNER_GONE:
		str_error(buf, len, " claimed by a queue process that is gone (%ld): queue flush sends it",
		          pid);
		break;
	case QUEUE_OWNER_UNKNOWN:
		str_error(buf, len, " claimed on another host (until its next attempt time)");
		break;
	}
	return buf;
}

static int print_line(void *arg, const struct queue_entry *e)
{
	const int64_t *now = arg;
	char when[64], next[64];
	int64_t soonest = 0;
	for (size_t i = 0; i < e->nrcpt; i++)
		if (i == 0 || e->rcpts[i].next_attempt < soonest)
			soonest = e->rcpts[i].next_attempt;
	struct queue_rcpt first = {.next_attempt = soonest};
	printf("%s %llu <%s> %zu recipient%s queued %s next %s\n", e->qid, (unsigned long long)e->size,
	       e->mail_from, e->nrcpt, e->nrcpt == 1 ? "" : "s", ctl_date(e->created, when, sizeof when),
	       next_text(&first, *now, next, sizeof next));
	return 0;
}

static int queue_show(struct ctl *c, const char *qid, int64_t now)
{
	struct queue_entry e;
	char err[512], when[64], next[64];
	int r = queue_get(c->store, qid, &e, err, sizeof err);
	if (r == 1)
		return ctl_fail("queue: no message %s", qid);
	if (r < 0)
		return ctl_fail("queue: %s", err);
	printf("id: %s\nfrom: <%s>\naccount: %s\nsize: %llu\nqueued: %s\ndelay warning sent: %s\n", e.qid,
	       e.mail_from, e.account[0] ? e.account : "(the server)", (unsigned long long)e.size,
	       ctl_date(e.created, when, sizeof when), e.warned ? "yes" : "no");
	if (e.dsn.ret != DSN_RET_NONE || e.dsn.envid[0])
		printf("dsn:%s%s%s\n",
		       e.dsn.ret == DSN_RET_FULL   ? " RET=FULL"
		       : e.dsn.ret == DSN_RET_HDRS ? " RET=HDRS"
		                                   : "",
		       e.dsn.envid[0] ? " ENVID=" : "", e.dsn.envid);
	for (size_t i = 0; i < e.nrcpt; i++) {
		const struct queue_rcpt *rc = &e.rcpts[i];
		char notify[32], claim[QUEUE_OWNER_SIZE];
		dsn_notify_format(rc->dsn.notify, notify);
		printf("to: <%s> attempts %u next %s%s%s%s%s%s%s%s\n", rc->rcpt, rc->attempts,
		       next_text(rc, now, next, sizeof next), claim_text(rc, claim, sizeof claim),
		       notify[0] ? " notify " : "", notify, rc->dsn.orcpt[0] ? " orcpt " : "", rc->dsn.orcpt,
		       rc->last_reply[0] ? " last: " : "", rc->last_reply);
	}
	queue_entry_free(&e);
	return CTL_OK;
}

static int queue_flush_cmd(struct ctl *c, const char *qid, int64_t now)
{
	char err[512];
	size_t n = 0;
	int r = queue_flush(c->store, qid, now, &n, err, sizeof err);
	if (r == 1)
		return ctl_fail("queue: no message %s", qid);
	if (r < 0)
		return ctl_fail("queue: %s", err);
	ctl_audit_action(c, "queue.flush", qid ? qid : "all", NULL, "ok", "");
	printf("queue: %zu recipient%s due now\n", n, n == 1 ? "" : "s");
	return CTL_OK;
}

struct delete_audit {
	struct ctl *c;
	const char *qid;
};

static int audit_delete(void *arg, char *err, size_t errlen)
{
	struct delete_audit *d = arg;
	if (ctl_audit_action(d->c, "queue.delete", d->qid, NULL, "ok", "") == 0)
		return 0;
	str_error(err, errlen, "audit record not written");
	return -1;
}

static int queue_delete_cmd(struct ctl *c, const char *qid)
{
	char err[512];
	struct delete_audit d = {.c = c, .qid = qid};
	struct queue_hook hook = {.fn = audit_delete, .arg = &d};
	int r = queue_delete(c->store, qid, &hook, err, sizeof err);
	if (r == 1)
		return ctl_fail("queue: no message %s", qid);
	if (r < 0)
		return ctl_fail("queue: %s", err);
	printf("queue: %s deleted\n", qid);
	return CTL_OK;
}

int ctl_queue(struct ctl *c, int argc, char **argv)
{
	int64_t now = (int64_t)time(NULL);
	char err[512];
	const char *verb = argc >= 2 ? argv[1] : "";
	bool needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0;
	bool is_list = strcmp(verb, "list") == 0, is_flush = strcmp(verb, "flush") == 0;
	if (!(needs_id || is_list || is_flush) || (needs_id && argc != 3) || (is_list && argc != 2) ||
	    (is_flush && argc > 3))
		return ctl_usage("queue needs list, show ID, flush [ID] or delete ID");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	if (is_list) {
		uint64_t waiting = 0, due = 0;
		if (queue_list(c->store, print_line, &now, err, sizeof err) < 0 ||
		    queue_count(c->store, now, &waiting, &due, err, sizeof err) < 0)
			return ctl_fail("queue: %s", err);
		printf("queue: %llu recipient%s waiting, %llu due\n", (unsigned long long)waiting,
		       waiting == 1 ? "" : "s", (unsigned long long)due);
		return CTL_OK;
	}
	if (is_flush)
		return queue_flush_cmd(c, argc == 3 ? argv[2] : NULL, now);
	if (strcmp(verb, "show") == 0)
		return queue_show(c, argv[2], now);
	return queue_delete_cmd(c, argv[2]);
}

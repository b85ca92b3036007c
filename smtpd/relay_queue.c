/* relay_queue.c: the queue process (relay_queue.h). */
#include "smtpd/relay_queue.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "directory/trust.h"
#include "lib/log.h"
#include "lib/privsep.h"
#include "lib/master.h"
#include "lib/str.h"
#include "queue/queue.h"
#include "smtpd/blob_sweeper.h"
#include "smtpd/relay_bounce.h"
#include "smtpd/relay_client.h"
#include "smtpd/relay_pool.h"
#include "smtpd/smtp_data.h"

int64_t relay_lease(const struct mss_config *cfg)
{
	/* an hour, the longest backoff: a recipient claimed by a process that died waits no
	 * longer than a deferred one. A batch that takes longer (a peer stalling stage by
	 * stage) may be claimed again by another host: delivery is at least once. */
	(void)cfg;
	return 3600;
}

int64_t relay_backoff(const struct mss_config *cfg, unsigned attempts)
{
	int64_t wait = cfg->queue_retry;
	for (unsigned i = 0; i < attempts && wait < 3600; i++)
		wait *= 2;
	return wait < 3600 ? wait : 3600;
}

struct relay_round {
	struct store *st;
	const struct mss_config *cfg;
	struct tls_ctx *ctx;
	int64_t now;
	const char *owner; /* the queue process, as its claims name it (queue_owner_self) */
	/* the blob sweep, when no committer runs to make it (blob_sweeper.h); else never due */
	struct blob_sweeper sweep;
};

struct outcome_audit {
	struct store *st;
	const struct queue_due *d;
	const char *action, *result, *peer;
};

static int audit_outcome(void *arg, char *err, size_t errlen)
{
	const struct outcome_audit *o = arg;
	char detail[QUEUE_REPLY_SIZE + 700];
	if (str_format(detail, sizeof detail, "qid=%s from=%s attempt=%u peer=%s", o->d->qid,
	               o->d->mail_from[0] ? o->d->mail_from : "<>", o->d->attempts + 1,
	               o->peer[0] ? o->peer : "-") != 0)
		detail[sizeof detail - 1] = '\0';
	struct audit_event ev = {.actor = "mss-smtpd",
	                         .auth = "relay",
	                         .action = o->action,
	                         .target = o->d->rcpt,
	                         .detail = detail,
	                         .result = o->result,
	                         .peer = "",
	                         .patient = ""};
	return audit_append(o->st, &ev, err, errlen);
}

/* A temporary failure past queue_lifetime is a failure for good. */
static enum relay_verdict final_verdict(const struct relay_round *rd, const struct queue_due *d,
                                        const struct relay_result *r)
{
	bool expired = rd->now - d->created >= (int64_t)rd->cfg->queue_lifetime;
	return r->verdict == RELAY_TEMPORARY && expired ? RELAY_PERMANENT : r->verdict;
}

/* Records one recipient's outcome (and its audit record) and logs it. */
static void record(struct relay_round *rd, const struct queue_due *d, const struct relay_result *r,
                   enum relay_verdict v, const char *peer)
{
	char err[512], result[QUEUE_REPLY_SIZE + 32], q[QUEUE_REPLY_SIZE + 64];
	const char *action = v == RELAY_OK          ? "relay.deliver"
	                     : v == RELAY_PERMANENT ? "relay.fail"
	                                            : "relay.defer";
	if (str_format(result, sizeof result, "%s%s%s",
	               v == RELAY_OK          ? "ok: "
	               : v == RELAY_PERMANENT ? "refused: "
	                                      : "deferred: ",
	               r->reply, v != r->verdict ? " (queue_lifetime passed)" : "") != 0)
		result[sizeof result - 1] = '\0';
	struct outcome_audit oa = {.st = rd->st, .d = d, .action = action, .result = result, .peer = peer};
	struct queue_hook hook = {.fn = audit_outcome, .arg = &oa};
	int rc = v == RELAY_TEMPORARY
	             ? queue_defer(rd->st, d->qid, d->rcpt, rd->now + relay_backoff(rd->cfg, d->attempts),
	                           r->reply, &hook, err, sizeof err)
	             : queue_done(rd->st, d->qid, d->rcpt, &hook, err, sizeof err);
	if (rc < 0)
		log_err("relay", "qid=%s result=failed error=\"%s\"", d->qid, err);
	log_info(action, "qid=%s to=%s attempt=%u result=%s", d->qid, d->rcpt, d->attempts + 1,
	         log_quote(q, sizeof q, r->reply));
}

/* Whether recipient d, whose verdict is v, belongs in a report of this action: its
 * NOTIFY (RFC 3461 4.1; none: failures and delays) asked for it, and it happened. A
 * success is reported here only when the next hop does not offer DSN (relayed); one
 * that does got NOTIFY with the message and reports itself. */
static bool report_due(const struct relay_round *rd, const struct queue_due *d, enum relay_verdict v,
                       enum relay_action action, bool peer_dsn)
{
	switch (action) {
	case RELAY_ACTION_FAILED:
		return v == RELAY_PERMANENT && dsn_notify_wants(d->rdsn.notify, DSN_NOTIFY_FAILURE);
	case RELAY_ACTION_DELAYED:
		return v == RELAY_TEMPORARY && !d->warned && rd->now - d->created >= RELAY_DELAY_WARNING &&
		       dsn_notify_wants(d->rdsn.notify, DSN_NOTIFY_DELAY);
	case RELAY_ACTION_RELAYED:
		return v == RELAY_OK && !peer_dsn && dsn_notify_wants(d->rdsn.notify, DSN_NOTIFY_SUCCESS);
	case RELAY_ACTION_DELIVERED:
		break;
	}
	return false;
}

/* The report of this action to the sender of d[0..n) (one message), for the
 * recipients it is due for. Sent before the outcomes are recorded, while the queued
 * file is still there to quote its header. */
static void report(struct relay_round *rd, const struct queue_due *d, size_t n,
                   const struct relay_result *res, const enum relay_verdict *v, enum relay_action action,
                   const char *host, bool peer_dsn)
{
	static const char *const names[] = {[RELAY_ACTION_FAILED] = "relay.bounce",
	                                    [RELAY_ACTION_DELAYED] = "relay.delay",
	                                    [RELAY_ACTION_DELIVERED] = "dsn.success",
	                                    [RELAY_ACTION_RELAYED] = "dsn.success"};
	struct relay_failure *f = calloc(n, sizeof *f);
	char err[512];
	size_t k = 0;
	if (f == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		if (report_due(rd, &d[i], v[i], action, peer_dsn))
			f[k++] = (struct relay_failure){.rcpt = d[i].rcpt,
			                                .reply = res[i].reply,
			                                .expired = res[i].verdict == RELAY_TEMPORARY,
			                                .orcpt = d[i].rdsn.orcpt};
	struct relay_report r = {.qid = d[0].qid,
	                         .mail_from = d[0].mail_from,
	                         .account = d[0].account,
	                         .created = d[0].created,
	                         .remote_mta = host,
	                         .action = action,
	                         .envid = d[0].dsn.envid,
	                         .rcpts = f,
	                         .n = k};
	int rc = k > 0 ? relay_report_send(rd->st, &r, err, sizeof err) : 1;
	if (rc < 0)
		log_err(names[action], "qid=%s result=failed error=\"%s\"", d[0].qid, err);
	else if (rc == 0)
		log_info(names[action], "qid=%s rcpts=%zu result=ok", d[0].qid, k);
	if (rc == 0 && action == RELAY_ACTION_DELAYED &&
	    queue_set_warned(rd->st, d[0].qid, err, sizeof err) < 0)
		log_err("relay.delay", "qid=%s result=failed error=\"%s\"", d[0].qid, err);
	free(f);
}

/* The outcomes of one message's recipients d[0..n): reports first, then records.
 * peer_dsn: the next hop offered DSN (and was given NOTIFY). */
static void settle(struct relay_round *rd, const struct queue_due *d, size_t n,
                   const struct relay_result *res, const char *peer, const char *host, bool peer_dsn)
{
	enum relay_verdict *v = calloc(n, sizeof *v);
	if (v == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = final_verdict(rd, &d[i], &res[i]);
	report(rd, d, n, res, v, RELAY_ACTION_FAILED, host, peer_dsn);
	report(rd, d, n, res, v, RELAY_ACTION_DELAYED, host, peer_dsn);
	report(rd, d, n, res, v, RELAY_ACTION_RELAYED, host, peer_dsn);
	for (size_t i = 0; i < n; i++)
		record(rd, &d[i], &res[i], v[i], peer);
	free(v);
}

/* The same result for every recipient of d[0..n), message by message. */
static void settle_all(struct relay_round *rd, const struct queue_due *d, size_t n,
                       const struct relay_result *r)
{
	struct relay_result *res = calloc(n ? n : 1, sizeof *res);
	if (res == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		res[i] = *r;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(d[j].qid, d[i].qid) == 0)
			j++;
		settle(rd, d + i, j - i, res + i, "", "", false);
		i = j;
	}
	free(res);
}

/* One message (d[0..n), same qid) over c. Returns relay_send's answer. */
static int send_message(struct relay_round *rd, struct relay_conn *c, const struct queue_due *d, size_t n)
{
	char err[512];
	struct buf data;
	const char **rcpts = calloc(n, sizeof *rcpts);
	struct dsn_rcpt *rdsn = calloc(n, sizeof *rdsn);
	struct relay_result *res = calloc(n, sizeof *res);
	int rc = 0;
	if (rcpts == NULL || rdsn == NULL || res == NULL)
		abort();
	/* what smtpd accepted: the message and its trace headers (smtp_data.h) */
	buf_init(&data, rd->cfg->max_message_size + SMTP_DATA_SLACK + 1);
	if (queue_read(rd->st, d[0].qid, &data, err, sizeof err) != 0) {
		struct relay_result why = {.verdict = RELAY_TEMPORARY};
		log_err("relay", "qid=%s result=failed error=\"%s\"", d[0].qid, err);
		relay_reply_line(0, "the queued message cannot be read", why.reply, sizeof why.reply);
		settle_all(rd, d, n, &why);
	} else {
		for (size_t i = 0; i < n; i++) {
			rcpts[i] = d[i].rcpt;
			rdsn[i] = d[i].rdsn;
		}
		struct relay_envelope env = {.mail_from = d[0].mail_from,
		                             .flags = d[0].flags,
		                             .dsn = &d[0].dsn,
		                             .rcpts = rcpts,
		                             .rcpt_dsn = rdsn,
		                             .n = n};
		rc = relay_send(c, &env, (const char *)data.data, data.len, res);
		settle(rd, d, n, res, relay_peer_dn(c), relay_peer_host(c), relay_peer_dsn(c));
	}
	buf_free(&data);
	free(rcpts);
	free(rdsn);
	free(res);
	return rc;
}

/* Tries each hop in turn. Returns a connection, or NULL with why. */
static struct relay_conn *open_domain(struct relay_round *rd, const char *domain, struct relay_result *why)
{
	struct relay_hop hops[RELAY_HOPS_MAX];
	char err[256];
	int n = relay_hops(rd->cfg, domain, hops, err, sizeof err);
	if (n <= 0) {
		why->verdict = n == 0 ? RELAY_PERMANENT : RELAY_TEMPORARY;
		relay_reply_line(0, n == 0 ? "the domain accepts no mail (null MX, RFC 7505)" : err,
		                 why->reply, sizeof why->reply);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		struct relay_conn *c = relay_open(rd->st, rd->ctx, rd->cfg, domain, &hops[i], why);
		if (c != NULL) {
			char q[600];
			log_info("relay.connect", "domain=%s host=%s port=%u peer=%s result=ok", domain,
			         hops[i].host, hops[i].port, log_quote(q, sizeof q, relay_peer_dn(c)));
			return c;
		}
		log_warn("relay.connect", "domain=%s host=%s port=%u result=failed error=\"%s\"", domain,
		         hops[i].host, hops[i].port, why->reply);
		/* a hop's refusal is no verdict on the domain: the next hop may take it */
		why->verdict = RELAY_TEMPORARY;
	}
	return NULL;
}

/* A kept connection for domain's next batch: still listed for it, and answering RSET
 * (a peer that closed it meanwhile does not). Returns it, or NULL when it was closed. */
static struct relay_conn *reuse(struct relay_round *rd, struct relay_conn *c, const char *domain)
{
	if (trust_is_listed(rd->st, domain, relay_peer_dn(c)) == 1 && relay_reset(c) == 0)
		return c;
	log_info("relay.reuse", "domain=%s result=failed action=reconnect", domain);
	relay_close(c);
	return NULL;
}

/* The claimed recipients of one domain, d[0..n), sorted by qid: over *cp (a connection
 * kept from the previous batch, or NULL), left in *cp when it may carry more; *sent
 * counts the messages it carried. */
static void deliver_domain(struct relay_round *rd, const struct queue_due *d, size_t n,
                           struct relay_conn **cp, unsigned *sent)
{
	struct relay_result why = {.verdict = RELAY_TEMPORARY};
	int listed = trust_domain_known(rd->st, d[0].domain);
	if (listed != 1) {
		why.verdict = listed == 0 ? RELAY_PERMANENT : RELAY_TEMPORARY;
		relay_reply_line(
		    0, listed == 0 ? "the domain is not in the health trust list" : "trust list unreadable",
		    why.reply, sizeof why.reply);
		settle_all(rd, d, n, &why);
		return;
	}
	struct relay_conn *c = *cp != NULL ? reuse(rd, *cp, d[0].domain) : NULL;
	if (c == NULL) {
		*sent = 0;
		c = open_domain(rd, d[0].domain, &why);
	}
	size_t i = 0;
	while (i < n) {
		size_t j = i + 1;
		while (j < n && strcmp(d[j].qid, d[i].qid) == 0)
			j++;
		if (c == NULL) {
			settle_all(rd, d + i, j - i, &why);
		} else if (++*sent > 0 && send_message(rd, c, d + i, j - i) < 0) {
			relay_close(c); /* out of step or gone: a fresh connection for the next one */
			*sent = 0;
			c = j < n ? open_domain(rd, d[0].domain, &why) : NULL;
		}
		i = j;
	}
	*cp = c;
}

/* One worker's batch: recipients d[0..n) of one domain, sorted by qid. */
struct relay_job {
	const struct mss_config *cfg;
	struct tls_ctx *ctx;
	const struct queue_due *d;
	size_t n;
};

/* In the worker (relay_pool.h): a store connection of its own (the queue process's is
 * never shared across fork: a PostgreSQL connection would interleave), the slot's key
 * agent channel, one connection to the domain's next hop, kept for the next batches the
 * queue process gives over ctl while relay_connection_reuse_count allows. */
static void run_job(void *arg, int chan, int keys, int ctl)
{
	const struct relay_job *job = arg;
	char err[512];
	struct store *st = store_open_nokeys(job->cfg, err, sizeof err);
	if (st == NULL) {
		/* the queue process gives the batch back when this worker ends (status 0 too) */
		log_err("relay", "domain=%s result=failed error=\"%s\"", job->d[0].domain, err);
		return;
	}
	store_use_agent(st, keys); /* the store closes it: this process's copy */
	if (chan >= 0)
		(void)tls_ctx_set_key_agent(job->ctx, chan);
	struct relay_round rd = {.st = st, .cfg = job->cfg, .ctx = job->ctx};
	struct relay_conn *c = NULL;
	const struct queue_due *d = job->d;
	size_t n = job->n;
	void *next = NULL;
	unsigned sent = 0;
	for (;;) {
		rd.now = (int64_t)time(NULL);
		deliver_domain(&rd, d, n, &c, &sent);
		free(next);
		if (c == NULL || sent >= job->cfg->relay_connection_reuse_count)
			break;
		size_t len = relay_pool_next(ctl, &next);
		if (len < sizeof *d)
			break; /* the queue process ended the wait: QUIT */
		d = next;
		n = len / sizeof *d;
	}
	relay_close(c);
	store_close(st);
}

/* Messages (runs of one qid) in d[0..n). */
static size_t count_messages(const struct queue_due *d, size_t n)
{
	size_t m = n > 0;
	for (size_t i = 1; i < n; i++)
		m += strcmp(d[i].qid, d[i - 1].qid) != 0;
	return m;
}

/* Recipients claimed and not yet handed to a worker (qmgr's active queue): a domain
 * whose connections are all busy keeps them here until one of its workers ends, so
 * that they leave together over one connection rather than one connection each (a
 * TLS handshake per message cost more than the parallel connections gained). Sorted
 * by domain, then qid. They are leased like any claim. */
#define RELAY_PENDING_MAX (RELAY_BATCH * 10)

struct relay_pending {
	struct queue_due *d; /* RELAY_PENDING_MAX of them */
	size_t n;
};

static int by_domain_qid(const void *a, const void *b)
{
	const struct queue_due *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	return c != 0 ? c : strcmp(x->qid, y->qid);
}

/* Claims up to RELAY_BATCH due recipients into p. Returns the number claimed. */
static size_t claim(struct relay_round *rd, struct relay_pending *p)
{
	char err[512];
	size_t n = 0;
	rd->now = (int64_t)time(NULL);
	if (queue_due(rd->st, rd->owner, rd->now, relay_lease(rd->cfg), p->d + p->n, RELAY_BATCH, &n, err,
	              sizeof err) < 0) {
		log_err("relay", "result=failed error=\"%s\"", err);
		return 0;
	}
	p->n += n;
	qsort(p->d, p->n, sizeof *p->d, by_domain_qid);
	return n;
}

/* Hands out one domain's pending recipients d[0..n) (sorted by qid): a batch to each
 * worker the domain may start now, each batch 1/k of its messages (k: the connections
 * it may have at once, so that a backlog spreads over them), at least one message.
 * Returns how many recipients, from the front, went. */
static size_t dispatch_domain(struct relay_round *rd, struct relay_pool *pool, const struct queue_due *d,
                              size_t n)
{
	size_t k = pool->per_domain < pool->n ? pool->per_domain : pool->n;
	size_t share = (count_messages(d, n) + k - 1) / k, i = 0, slot;
	while (i < n && relay_pool_free_slot(pool, d[0].domain, &slot)) {
		size_t start = i;
		for (size_t m = 0; m < share && i < n; m++) {
			i++;
			while (i < n && strcmp(d[i].qid, d[i - 1].qid) == 0)
				i++;
		}
		struct relay_job job = {.cfg = rd->cfg, .ctx = rd->ctx, .d = d + start, .n = i - start};
		if (relay_pool_start(pool, slot, d[0].domain, d + start, (i - start) * sizeof *d, run_job,
		                     &job) < 0)
			return start; /* the idle worker was gone: the rest waits for the next look */
	}
	return i;
}

/* Hands out what the free workers can take; the rest stays pending, in order. */
static void dispatch(struct relay_round *rd, struct relay_pool *pool, struct relay_pending *p)
{
	size_t kept = 0;
	for (size_t i = 0; i < p->n;) {
		size_t j = i + 1;
		while (j < p->n && strcmp(p->d[j].domain, p->d[i].domain) == 0)
			j++;
		size_t gone = dispatch_domain(rd, pool, p->d + i, j - i);
		memmove(p->d + kept, p->d + i + gone, (j - i - gone) * sizeof *p->d);
		kept += j - i - gone;
		i = j;
	}
	p->n = kept;
}

/* A worker's batch ended (relay_pool_set_done): what it left claimed, it did not record
 * (the worker died, or its store failed): given back as a deferral with backoff rather
 * than at once, so that a message that makes its worker crash cannot loop; mssctl queue
 * flush makes it due now. */
static void batch_done(void *arg, const void *job, size_t len, const char *why)
{
	struct relay_round *rd = arg;
	const struct queue_due *d = job;
	size_t n = len / sizeof *d, released = 0;
	char err[512], q[256];
	int64_t now = (int64_t)time(NULL);
	if (n == 0)
		return;
	if (queue_release(rd->st, d, n, now + relay_backoff(rd->cfg, d[0].attempts), why, &released, err,
	                  sizeof err) < 0) {
		log_err("relay.release", "domain=%s result=failed error=\"%s\"", d[0].domain, err);
		return;
	}
	if (released > 0)
		log_warn("relay.release", "domain=%s recipients=%zu reason=%s", d[0].domain, released,
		         log_quote(q, sizeof q, why));
}

static volatile sig_atomic_t reload_asked;

static void on_hup(int sig)
{
	(void)sig;
	reload_asked = 1;
}

/* A worker ended: wakes wait_for_work, so that what waits for its place goes. */
static void on_child(int sig)
{
	(void)sig;
}

/* Up to ms, less when a message is queued (wake: store_queue_watch_open's descriptor, or
 * -1), a worker ends or turns idle, an idle one's reuse time ends or SIGHUP arrives.
 * SIGCHLD and SIGHUP are blocked but here (mask: the set without them), so that one that
 * arrives between the last look and the wait still ends it. */
static void wait_for_work(struct relay_pool *pool, int wake, int ms, const sigset_t *mask)
{
	struct pollfd p[RELAY_CONNECTIONS_MAX + 1];
	size_t n = relay_pool_watch(pool, p + 1, RELAY_CONNECTIONS_MAX, &ms);
	p[0] = (struct pollfd){.fd = wake, .events = POLLIN};
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	if (ppoll(p, n + 1, &ts, mask) > 0 && (p[0].revents & POLLIN))
		(void)store_watch_drain(wake);
	relay_pool_update(pool, p + 1, n);
}

/* Claims while a worker is free and the pending list has room, hands out, waits. */
static void deliver_loop(struct relay_round *rd, struct relay_pool *pool, struct relay_pending *p, int wake,
                         const sigset_t *mask)
{
	while (!reload_asked) {
		relay_pool_reap(pool, false);
		size_t claimed = 0;
		if (relay_pool_busy(pool) < pool->n && p->n + RELAY_BATCH <= RELAY_PENDING_MAX)
			claimed = claim(rd, p);
		dispatch(rd, pool, p);
		blob_sweeper_run(&rd->sweep, rd->st);
		/* a full batch: more may be due at once; else wait for a queued message, a
		 * worker's end or queue_scan_interval at most (retries fall due, mssctl queue
		 * flush: one indexed query), or the blob sweep's next pass */
		if (claimed < RELAY_BATCH && !reload_asked)
			wait_for_work(
			    pool, wake,
			    blob_sweeper_wait_ms(&rd->sweep, (int)rd->cfg->queue_scan_interval * 1000), mask);
		else
			relay_pool_update(pool, NULL, 0); /* idle workers past their time */
	}
	/* SIGHUP: what was claimed is delivered before the handover (no claim is left to
	 * its lease), each worker ending after its batch (idle ones QUIT now) */
	relay_pool_end_all(pool);
	while (p->n > 0) {
		relay_pool_reap(pool, true);
		dispatch(rd, pool, p);
	}
	relay_pool_wait_all(pool);
}

static void queue_main(const struct mss_config *cfg, struct tls_ctx *ctx, int keys_fd,
                       const struct relay_chans *w)
{
	char err[512];
	sigset_t block, mask;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &mask);
	struct store *st = store_open_nokeys(cfg, err, sizeof err);
	if (st == NULL) {
		log_err("relay", "result=failed error=\"%s\"", err);
		_exit(1);
	}
	store_use_agent(st, keys_fd);
	char owner[QUEUE_OWNER_SIZE];
	size_t released = 0;
	if (queue_owner_self(owner, sizeof owner) != 0) {
		log_err("relay", "result=failed error=\"/proc/self/stat or /proc/sys/kernel/random/boot_id "
		                 "unreadable: a claim could not name its owner\"");
		_exit(1);
	}
	/* a predecessor killed (or crashed) left its claims: they go now, not at their lease */
	if (queue_release_gone(st, NULL, (int64_t)time(NULL), &released, err, sizeof err) < 0)
		log_err("relay.release", "result=failed error=\"%s\"", err);
	else if (released > 0)
		log_info("relay.release", "recipients=%zu reason=\"claimed by a queue process that is gone\"",
		         released);
	struct relay_round rd = {.st = st, .cfg = cfg, .ctx = ctx, .owner = owner};
	if (blob_sweeper_in_queue(cfg))
		blob_sweeper_init(&rd.sweep, cfg, "relay.sweep");
	struct relay_pool pool;
	struct relay_pending pending = {.d = calloc(RELAY_PENDING_MAX, sizeof *pending.d)};
	if (pending.d == NULL)
		abort();
	relay_pool_init(&pool, cfg->relay_max_connections, cfg->relay_max_per_domain, w, keys_fd);
	relay_pool_set_reuse(&pool, cfg->relay_connection_reuse_time);
	relay_pool_set_done(&pool, batch_done, &rd);
	/* woken by each queued message (store_queue_notify), so that a new message leaves
	 * at once instead of at the next look; without the watch, the looks alone */
	int wake = store_queue_watch_open(st, err, sizeof err);
	if (wake < 0)
		log_warn("relay.wake", "result=failed error=\"%s\" action=scan-only", err);
	log_info("relay.start", "result=ok");
	deliver_loop(&rd, &pool, &pending, wake, &mask);
	if (wake >= 0)
		store_watch_close(wake);
	relay_pool_free(&pool);
	free(pending.d);
	/* the master starts the next queue process with the reloaded settings */
	log_info("relay.reload", "result=ok");
	store_close(st);
	_exit(RELAY_EXIT_RELOAD);
}

pid_t relay_queue_start(const struct mss_config *cfg, struct tls_ctx *ctx, const int *close_fds, size_t n,
                        struct key_agent *tls_agent, struct store_agent *keys, int keys_fd,
                        const struct relay_chans *w)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	char err[256];
	for (size_t i = 0; i < n; i++)
		if (close_fds[i] >= 0)
			close(close_fds[i]);
	master_close_in_child(); /* restarted by the master: its sockets to reused MX processes */
	/* a process that reads foreign servers' replies must not be able to ask the agents
	 * for channels or reloads: it has the channels it needs (ctx's, w's, keys_fd) */
	key_agent_close_master(tls_agent);
	store_agent_forget(keys);
	prctl(PR_SET_NAME, "mss-queue");
	if (master_drop_privileges(cfg->user, err, sizeof err) < 0) {
		log_err("relay", "result=failed error=\"%s\"", err);
		_exit(1);
	}
	/* restarted by the master, already user: what privsep_drop left it permitted
	 * (CAP_SETUID among them) is not the queue's */
	privsep_drop_caps();
	/* after the switch, which clears it: ends with the daemon that started it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_hup}; /* no SA_RESTART: ends the wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	queue_main(cfg, ctx, keys_fd, w);
	_exit(0);
}

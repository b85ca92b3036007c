/* committer.c: the committer process and its start by the master (see committer.h). */
#include "smtpd/committer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/sender_rows.h"
#include "lib/buf.h"
#include "lib/fd_io.h"
#include "lib/log.h"
#include "lib/master.h"
#include "lib/mem_wipe.h"
#include "lib/privsep.h"
#include "policy/policy.h"
#include "smtpd/blob_sweeper.h"
#include "smtpd/committer_msg.h"
#include "store/store.h"

/* The most sessions one committer listens to at once: smtp_max_sessions bounds the MX
 * sessions, this only the array that grows with them. */
#define CLIENTS_MAX 100000
/* What one read of a session's frame may take at most (read_client). */
#define READ_RESERVE 65536

int committer_socket_path(const struct mss_config *cfg, char *out, size_t outlen)
{
	return config_data_path(cfg, "run/committer", out, outlen);
}

bool committer_runs(const struct mss_config *cfg)
{
	return cfg->delivery_batch_max > 1 && !store_is_shared(cfg);
}

bool committer_wanted(const struct mss_config *cfg, const struct policy_message *m)
{
	return committer_runs(cfg) && policy_all_local(cfg, m);
}

/* ---- the process ---- */

/* One session process's connection: what it sent so far, and its request once whole. */
struct client {
	int fd;
	struct buf in;
	size_t in_high; /* the most of in's storage ever written: what answer wipes */
	bool has_req;
	uint64_t arrived; /* the order requests came in: a batch takes them in it */
	struct committer_req req;
	struct policy_message pm;
	struct policy_staged *staged;
	int rc;
	struct mss_status st;
	bool kept_written;
	/* what the session sent after its request: its withdrawal (committer_msg.h), read
	 * apart from in, which the parsed request points into */
	uint8_t after[COMMITTER_WITHDRAW_LEN];
	size_t nafter;
	bool withdrawn;
	bool to_file; /* committed, and its session files it (policy_deliver_finish) */
};

struct committer {
	const struct mss_config *cfg;
	struct store *st;
	int keys_fd; /* the account key agent channel; the store uses a copy of it */
	int lfd;
	struct client *c;
	size_t n, cap;
	uint64_t next_arrival;
	size_t frame_max;
	int64_t note_seq; /* the last batch note written (store_batch_note); 0: to be read */
};

static void drop_client(struct committer *k, size_t i)
{
	struct client *c = &k->c[i];
	close(c->fd);
	if (c->has_req)
		committer_req_free(&c->req);
	buf_free(&c->in); /* overwritten: buf_init_wiped */
	k->c[i] = k->c[--k->n];
}

static void accept_clients(struct committer *k)
{
	for (;;) {
		int fd = accept4(k->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (k->n == CLIENTS_MAX) {
			close(fd); /* the session delivers itself */
			continue;
		}
		if (k->n == k->cap) {
			k->cap = k->cap ? k->cap * 2 : 64;
			k->c = xrealloc(k->c, k->cap * sizeof *k->c);
		}
		struct client *c = &k->c[k->n++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		/* a patient's message passes through it: overwritten when it grows or goes */
		buf_init_wiped(&c->in, k->frame_max + COMMITTER_FRAME_HEAD);
	}
}

static int refuse_after(void)
{
	log_err("committer.request", "result=refused error=\"a second request before the answer\"");
	return -1;
}

/* n more octets after c's request: its withdrawal once whole. Returns -1 for anything
 * else (a second request before the answer). */
static int read_after(struct client *c, const uint8_t *p, size_t n)
{
	if (n > sizeof c->after - c->nafter)
		return refuse_after();
	memcpy(c->after + c->nafter, p, n);
	c->nafter += n;
	if (c->nafter < sizeof c->after)
		return 0;
	if (!committer_is_withdraw(c->after))
		return refuse_after();
	c->withdrawn = true;
	return 0;
}

/* While c's request waits: only its withdrawal may come, or the end of the connection
 * (the session gave up: the request goes unstored). */
static int read_withdrawal(struct client *c)
{
	uint8_t b[COMMITTER_WITHDRAW_LEN + 1];
	for (;;) {
		ssize_t r = read(c->fd, b, sizeof b);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (read_after(c, b, (size_t)r) < 0)
			return -1;
	}
}

/* Reads what c sent; a whole frame becomes its request. Returns -1 when c must go
 * (closed, an error, a frame too large or malformed: its session answers 451). */
static int read_client(struct committer *k, struct client *c)
{
	if (c->has_req)
		return read_withdrawal(c);
	for (;;) {
		/* straight into the request's buffer, which stops at frame_max */
		if (buf_reserve(&c->in, READ_RESERVE) < 0 && buf_reserve(&c->in, 1) < 0) {
			log_err("committer.request",
			        "result=refused error=\"frame larger than max_message_size "
			        "and the envelope\"");
			return -1;
		}
		size_t room = c->in.cap - 1 - c->in.len;
		if (room > c->in.limit - c->in.len)
			room = c->in.limit - c->in.len;
		ssize_t r = read(c->fd, c->in.data + c->in.len, room);
		if (r == 0)
			return -1;
		if (r < 0)
			break;
		buf_added(&c->in, (size_t)r);
		if (c->in.len + 1 > c->in_high) /* buf_consume moves octets below len only */
			c->in_high = c->in.len + 1;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return -1;
	/* a withdrawal read after its request's answer went: nothing left to withdraw */
	while (c->in.len >= COMMITTER_WITHDRAW_LEN && committer_is_withdraw((const uint8_t *)c->in.data))
		buf_consume(&c->in, COMMITTER_WITHDRAW_LEN);
	if (c->in.len < COMMITTER_FRAME_HEAD)
		return 0;
	uint32_t len = committer_frame_len((const uint8_t *)c->in.data);
	if (len > k->frame_max) {
		log_err("committer.request", "result=refused error=\"frame of %u octets\"", len);
		return -1;
	}
	if (c->in.len < COMMITTER_FRAME_HEAD + (size_t)len)
		return 0;
	char err[256];
	if (committer_req_parse((const uint8_t *)c->in.data + COMMITTER_FRAME_HEAD, len, &c->req, err,
	                        sizeof err) < 0) {
		log_err("committer.request", "result=refused error=\"%s\"", err);
		return -1;
	}
	c->has_req = true;
	c->arrived = k->next_arrival++;
	size_t end = COMMITTER_FRAME_HEAD + (size_t)len;
	return read_after(c, (const uint8_t *)c->in.data + end, c->in.len - end);
}

static int by_arrival(const void *a, const void *b)
{
	const struct client *x = *(struct client *const *)a, *y = *(struct client *const *)b;
	return x->arrived < y->arrived ? -1 : x->arrived > y->arrived;
}

/* One delivery's first step, before the batch's transaction: everything that needs no
 * row given out in it (policy_deliver_prepare), so the write lock is held for the rows
 * only. Reads the store, writes none of it (a large blob's file, removed unless its
 * rows commit). The patients' copies are the session's (r->copies): the vault's
 * inspection ran there, in the process of the peer who sent the message, and the
 * session files it after the answer; a copy that does not fit this process's parse
 * fails the delivery (vault_delivery_open). */
static void prepare_one(struct committer *k, struct client *c)
{
	struct committer_req *r = &c->req;
	/* the sender's account and directory entry, read once for the delivery's questions
	 * as a session reads them at MAIL (auth/sender_rows.h): the sender's lookup and its
	 * name each read the account again (an error leaves them to read for themselves) */
	const char *who = r->sender.account[0] ? r->sender.account : r->mail_from;
	if (who[0] != '\0')
		(void)sender_rows_read(k->st, &r->sender, who);
	c->pm = (struct policy_message){.sender = &r->sender,
	                                .mail_from = r->mail_from,
	                                .rcpts = (const char *const *)r->rcpts,
	                                .nrcpt = r->nrcpt,
	                                .data = r->data,
	                                .len = r->len,
	                                .queue_id = r->queue_id,
	                                .dsn = &r->dsn,
	                                .rcpt_dsn = r->rcpt_dsn,
	                                .copies = r->copies};
	memset(&c->st, 0, sizeof c->st);
	c->kept_written = false;
	c->to_file = false;
	c->rc = -1;
	policy_not_stored(&c->st); /* until its rows are in */
	c->staged = policy_deliver_prepare(k->st, &c->pm);
}

/* Its second, inside the batch's transaction: the session's kept records first (with
 * their decisions' times), then the rows, contacts and audit records. */
static void stage_one(struct committer *k, struct client *c)
{
	const struct committer_req *r = &c->req;
	memset(&c->st, 0, sizeof c->st);
	if (!store_batch_open(k->st)) { /* an earlier one's error ended it */
		c->rc = -1;
		policy_not_stored(&c->st);
		return;
	}
	for (size_t i = 0; i < r->nkept; i++) {
		const struct committer_kept *e = &r->kept[i];
		const struct audit_event ev = {e->f[0], e->f[1], e->f[2], e->f[3],
		                               e->f[4], e->f[5], e->f[6], e->f[7]};
		audit_defer_at(&ev, e->when);
	}
	c->rc = policy_deliver_stage(k->st, c->staged, &c->st);
	c->kept_written = audit_deferred_count() == 0;
	audit_deferred_drop(); /* the session keeps its own copy until the answer */
}

/* The message read is wiped, as a reused session process wipes a peer's bytes: nothing
 * of one patient's mail stays in memory the next delivery uses. A buffer of one read's
 * reserve (read_client) is kept, what was written of it overwritten: the next request
 * reads into it without a mapping made and unmade (2 system calls and its page faults a
 * message). A larger one, grown by a large message, goes (buf_free unmaps it). */
#define IN_KEEP_MAX (2 * READ_RESERVE)

static void wipe_in(struct client *c)
{
	if (c->in.cap <= IN_KEEP_MAX) {
		explicit_bzero(c->in.data, c->in_high);
		buf_reset(&c->in);
	} else {
		size_t limit = c->in.limit;
		buf_free(&c->in);
		buf_init_wiped(&c->in, limit);
	}
	c->in_high = 0;
}

static void answer(struct client *c, bool committed, unsigned batch)
{
	struct buf out;
	if (!committed) {
		c->rc = -1;
		policy_not_stored(&c->st);
	}
	const struct committer_ans a = {.rc = c->rc,
	                                .st = c->st,
	                                .kept_written = committed && c->kept_written,
	                                .to_file = committed && c->to_file,
	                                .batch = batch};
	buf_init(&out, BUF_UNLIMITED);
	committer_ans_write(&out, &a);
	/* a few hundred octets: the socket takes them at once; a session gone reads
	 * nothing either, so a failure here needs nothing more */
	(void)fd_write_all(c->fd, out.data, out.len);
	buf_free(&out);
	committer_req_free(&c->req);
	c->has_req = false;
	c->nafter = 0;
	c->withdrawn = false;
	wipe_in(c);
}

/* The requests whose sessions gave up waiting before a batch took them: answered "not
 * stored" and never stored, so the session's 451 is true and its client's retry the
 * only copy. */
static void answer_withdrawn(struct committer *k)
{
	for (size_t i = 0; i < k->n; i++) {
		struct client *c = &k->c[i];
		if (!c->has_req || !c->withdrawn)
			continue;
		log_info("committer.withdraw", "qid=%s result=withdrawn", c->req.queue_id);
		answer(c, false, 0);
	}
}

static void store_done(struct committer *k);

/* The store as a reused session process finds it (store_reuse_begin): after mssctl
 * migrate, or a fault on the connection, a new one, so that no statement of the old
 * schema is kept. Returns 0, -1 when none could be opened (logged). */
static int store_ready(struct committer *k)
{
	char err[512];
	if (k->st != NULL && store_reuse_begin(k->st, err, sizeof err) == 0)
		return 0;
	if (k->st != NULL) {
		log_info("committer.store", "action=reopen reason=\"%s\"", err);
		store_close(k->st);
	}
	k->st = store_open_nokeys(k->cfg, err, sizeof err);
	if (k->st != NULL && store_batch_setup(k->st, err, sizeof err) < 0) {
		store_close(k->st);
		k->st = NULL;
	}
	if (k->st == NULL) {
		log_err("committer.store", "result=failed error=\"%s\"", err);
		return -1;
	}
	store_done(k); /* takes the schema's stamp that store_reuse_begin compares */
	return k->st != NULL ? 0 : -1;
}

/* After a batch, what a session process does after a connection (store_reuse_end):
 * nothing of these deliveries stays in memory but the statement cache. */
static void store_done(struct committer *k)
{
	if (store_reuse_end(k->st) < 0) {
		store_close(k->st);
		k->st = NULL;
		return;
	}
	store_use_agent(k->st, dup(k->keys_fd));
}

/* What a staged delivery's note says (store.h STORE_NOTE_*), 0 for none: not stored
 * and its kept records not written either, as when nothing was committed. */
static char note_mark(const struct client *c)
{
	if (c->rc == 0)
		return policy_deliver_stored(c->staged) ? STORE_NOTE_STORED : STORE_NOTE_ACCEPTED;
	return c->kept_written ? STORE_NOTE_RECORDED : 0;
}

/* Last in the batch's transaction: which deliveries it commits (store_batch_note),
 * read by their sessions only when this process dies between its COMMIT and their
 * answers. Returns 0, -1 with err (the batch then fails: a commit its sessions could
 * not find would be a 451 said of stored messages). */
static int note_batch(struct committer *k, struct client **b, size_t n, char *err, size_t errlen)
{
	if (!store_batch_open(k->st))
		return 0; /* ended early: store_batch_end fails it */
	if (k->note_seq == 0 && store_batch_note_last(k->st, &k->note_seq, err, errlen) < 0)
		return -1;
	struct buf text;
	buf_init(&text, BUF_UNLIMITED);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char mark = note_mark(b[i]);
		if (mark != 0)
			rc = store_batch_note_add(&text, b[i]->req.queue_id, mark);
	}
	if (rc == 0 && text.len > 0) {
		rc = store_batch_note(k->st, k->note_seq + 1, text.data, err, errlen);
		if (rc == 0)
			k->note_seq++;
	}
	buf_free(&text);
	return rc;
}

/* Every request waiting, up to delivery_batch_max, in one transaction. */
static void run_batch(struct committer *k)
{
	size_t cap = k->cfg->delivery_batch_max, n = 0;
	struct client **b = xcalloc(k->n, sizeof *b);
	for (size_t i = 0; i < k->n; i++)
		if (k->c[i].has_req)
			b[n++] = &k->c[i];
	if (n == 0) {
		free(b);
		return;
	}
	qsort(b, n, sizeof *b, by_arrival);
	if (n > cap)
		n = cap; /* the others wait for the next one, first in line */
	if (store_ready(k) < 0) {
		for (size_t i = 0; i < n; i++)
			answer(b[i], false, (unsigned)n);
		free(b);
		return;
	}
	for (size_t i = 0; i < n; i++)
		prepare_one(k, b[i]);
	char err[512] = "";
	bool committed = store_batch_begin(k->st, err, sizeof err) == 0;
	for (size_t i = 0; i < n && committed; i++)
		stage_one(k, b[i]);
	if (committed && note_batch(k, b, n, err, sizeof err) < 0)
		committed = false;
	if (store_batch_end(k->st, committed, err, sizeof err) != 0) {
		log_err("committer.batch", "result=failed messages=%zu error=\"%s\"", n, err);
		committed = false;
	}
	for (size_t i = 0; i < n; i++) {
		b[i]->to_file = policy_deliver_finish(k->st, b[i]->staged, committed && b[i]->rc == 0);
		b[i]->staged = NULL;
		answer(b[i], committed, (unsigned)n);
	}
	free(b);
	store_done(k);
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int listen_on(const struct mss_config *cfg)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (committer_socket_path(cfg, a.sun_path, sizeof a.sun_path) < 0)
		return -1;
	(void)unlink(a.sun_path); /* a predecessor's */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void committer_main(const struct mss_config *cfg, int keys_fd)
{
	/* every session's message is parsed (libetpan) and sealed here: what the libraries
	 * free of it is overwritten, not left for the next delivery (lib/mem_wipe.h) */
	mem_wipe_freed_on();
	struct committer k = {.cfg = cfg, .lfd = -1, .keys_fd = keys_fd};
	k.frame_max = (size_t)cfg->max_message_size + COMMITTER_ENVELOPE_MAX;
	if (store_ready(&k) < 0)
		_exit(1);
	/* the blob files a committer killed mid-batch (or a session, a filing) left without
	 * rows: a bounded pass between two batches, the first at once (blob_sweeper.h) */
	struct blob_sweeper sweep;
	blob_sweeper_init(&sweep, cfg, "committer.sweep");
	k.lfd = listen_on(cfg);
	if (k.lfd < 0) {
		log_err("committer", "result=failed error=\"cannot listen on data_dir/run/committer: %s\"",
		        strerror(errno));
		_exit(1);
	}
	log_info("committer.start", "result=ok batch_max=%u", cfg->delivery_batch_max);
	struct pollfd *p = NULL;
	/* Asked to end (SIGTERM: a reload, a helper restarted, the daemon's stop): no new
	 * connection (sessions deliver themselves meanwhile), and what was sent already is
	 * committed and answered first. */
	for (;;) {
		if (stop && k.lfd >= 0) {
			close(k.lfd);
			k.lfd = -1;
		}
		p = xrealloc(p, (k.n + 1) * sizeof *p);
		p[0] = (struct pollfd){.fd = k.lfd, .events = POLLIN};
		for (size_t i = 0; i < k.n; i++)
			p[i + 1] = (struct pollfd){.fd = k.c[i].fd, .events = POLLIN};
		size_t polled = k.n;
		int ready = poll(p, polled + 1, stop ? 0 : blob_sweeper_wait_ms(&sweep, -1));
		if (ready < 0)
			continue; /* EINTR: stop is looked at */
		/* from the end: drop_client moves the last one into the hole */
		for (size_t i = polled; i-- > 0;)
			if (p[i + 1].revents != 0 && read_client(&k, &k.c[i]) < 0)
				drop_client(&k, i);
		if (k.lfd >= 0 && (p[0].revents & POLLIN))
			accept_clients(&k);
		bool waiting = false;
		for (size_t i = 0; i < k.n; i++)
			waiting = waiting || k.c[i].has_req;
		if (stop && ready == 0 && !waiting)
			break;
		answer_withdrawn(&k);
		run_batch(&k);
		if (!stop && blob_sweeper_due(&sweep)) {
			bool reached =
			    store_ready(&k) == 0; /* else that pass is skipped, not retried at once */
			blob_sweeper_run(&sweep, reached ? k.st : NULL);
			if (reached)
				store_done(&k);
		}
	}
	free(p);
	if (k.st != NULL)
		store_close(k.st);
	_exit(0);
}

/* ---- the master's side ---- */

static pid_t fork_committer(struct committer_process *cp, int keys_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	char err[256];
	for (size_t i = 0; i < cp->nclose; i++)
		if (cp->close_fds[i] >= 0)
			close(cp->close_fds[i]);
	master_close_in_child();
	if (cp->child_init != NULL)
		cp->child_init(cp->child_arg);
	/* no control socket to either agent: it reads sessions' frames, it asks for nothing */
	key_agent_close_master(cp->agent);
	store_agent_forget(cp->keys);
	prctl(PR_SET_NAME, "mss-committer");
	if (master_drop_privileges(cp->cfg->user, err, sizeof err) < 0) {
		log_err("committer", "result=failed error=\"%s\"", err);
		_exit(1);
	}
	privsep_drop_caps();
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* ends with the daemon that started it */
	if (getppid() != parent)
		_exit(0);
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: ends the wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN); /* keeps the settings it started with (mss.conf(5)) */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	committer_main(cp->cfg, keys_fd);
	_exit(0);
}

static void fork_one(struct committer_process *cp)
{
	/* deliveries seal to public keys: the MX sessions' kind, no account key */
	int keys_fd = store_agent_channel(cp->keys, STORE_AGENT_MX, "committer");
	cp->restart_at = 0;
	cp->pid = keys_fd < 0 ? -1 : fork_committer(cp, keys_fd);
	if (keys_fd >= 0)
		close(keys_fd);
	if (cp->pid < 0) {
		log_err("committer", "result=failed error=\"fork failed\"");
		cp->pid = 0;
		cp->restart_at = time(NULL) + cp->pause;
		return;
	}
	cp->started = time(NULL);
}

int committer_start(struct committer_process *cp, const struct mss_config *cfg, struct key_agent *agent,
                    struct store_agent *keys)
{
	const int *close_fds = cp->close_fds;
	size_t nclose = cp->nclose;
	void (*child_init)(void *arg) = cp->child_init;
	void *child_arg = cp->child_arg;
	memset(cp, 0, sizeof *cp);
	cp->child_init = child_init;
	cp->child_arg = child_arg;
	cp->cfg = cfg;
	cp->keys = keys;
	cp->agent = agent;
	cp->pause = 1;
	cp->close_fds = close_fds;
	cp->nclose = nclose;
	if (!committer_runs(cfg))
		return 0;
	fork_one(cp);
	return cp->pid > 0 ? 0 : -1;
}

void committer_reload(struct committer_process *cp)
{
	if (cp->pid > 0) {
		cp->ending = true;
		kill(cp->pid, SIGTERM); /* ends after answering what it read; started again */
	} else if (cp->restart_at == 0) {
		cp->restart_at = time(NULL);
	}
}

bool committer_exited(struct committer_process *cp, pid_t pid, int status)
{
	if (pid <= 0 || pid != cp->pid)
		return false;
	cp->pid = 0;
	time_t now = time(NULL);
	if (cp->ending && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		cp->ending = false;
		cp->restart_at = now; /* a handover: at once, with the settings in force */
		return true;
	}
	cp->ending = false;
	unsigned max = cp->cfg->child_restart_max;
	cp->pause = now - cp->started >= (time_t)max ? 1 : cp->pause;
	cp->restart_at = now + cp->pause;
	if (WIFSIGNALED(status))
		log_warn("committer", "result=ended signal=%d restart_in=%u", WTERMSIG(status), cp->pause);
	else
		log_warn("committer", "result=ended status=%d restart_in=%u",
		         WIFEXITED(status) ? WEXITSTATUS(status) : -1, cp->pause);
	cp->pause = cp->pause * 2 > max ? max : cp->pause * 2;
	return true;
}

void committer_tick(struct committer_process *cp)
{
	if (cp->pid > 0 || cp->restart_at == 0 || time(NULL) < cp->restart_at)
		return;
	if (!committer_runs(cp->cfg)) { /* turned off by SIGHUP */
		cp->restart_at = 0;
		return;
	}
	fork_one(cp);
	if (cp->pid > 0)
		log_info("committer", "result=started pid=%ld", (long)cp->pid);
}

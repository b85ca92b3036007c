/* policy_retention.c: deleting mailboxes nobody uses any more (CNIL, DESIGN.md
 * "Retention"). An account's activity is its last login, or its creation when it never
 * logged in. Past inactive_warning it is warned once (INBOX message, notify_command);
 * past inactive_delete it is deleted, but never sooner than inactive_delete -
 * inactive_warning after its warning, so nobody is deleted unwarned (a warning that
 * was missed, because the setting changed or no daemon ran, postpones the deletion).
 * A login resets everything. Each warning and deletion is audited. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "directory/account.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/master.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "vault/vault_notify.h"

struct candidates {
	struct account *v;
	size_t n;
};

static int collect(const struct account *a, void *arg)
{
	struct candidates *c = arg;
	c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
	c->v[c->n++] = *a;
	return 0;
}

static void audit_retention(struct store *st, const struct account *a, const char *action, int64_t idle_days,
                            const char *result)
{
	char detail[64], err[256];
	str_assert(str_format(detail, sizeof detail, "inactive_days=%lld", (long long)idle_days),
	           "a 64-bit number fits 64 bytes");
	struct audit_event ev = {.actor = "mss",
	                         .auth = "local",
	                         .action = action,
	                         .target = a->address,
	                         .detail = detail,
	                         .result = result,
	                         .peer = "",
	                         .patient = a->role == ROLE_PATIENT ? a->address : ""};
	if (audit_append(st, &ev, err, sizeof err) != 0)
		log_err("audit_failed", "action=%s error=\"%s\"", action, err);
}

/* What retention does to a at now: 0 nothing, 1 warn, 2 delete. */
static int decide(const struct mss_config *cfg, const struct account *a, int64_t now)
{
	int64_t active = a->last_login > a->created ? a->last_login : a->created;
	int64_t idle = now - active;
	bool warned = a->retention_warned > active;
	if (cfg->inactive_delete == 0)
		return 0;
	if (cfg->inactive_warning == 0 || cfg->inactive_warning >= cfg->inactive_delete)
		return idle >= (int64_t)cfg->inactive_delete ? 2 : 0;
	if (!warned)
		return idle >= (int64_t)cfg->inactive_warning ? 1 : 0;
	int64_t notice = (int64_t)(cfg->inactive_delete - cfg->inactive_warning);
	return idle >= (int64_t)cfg->inactive_delete && now - a->retention_warned >= notice ? 2 : 0;
}

static int64_t delete_after(const struct mss_config *cfg, const struct account *a, int64_t now)
{
	int64_t active = a->last_login > a->created ? a->last_login : a->created;
	int64_t by_idle = active + (int64_t)cfg->inactive_delete;
	int64_t by_notice = now + (int64_t)(cfg->inactive_delete - cfg->inactive_warning);
	return by_idle > by_notice ? by_idle : by_notice;
}

static int act(struct store *st, const struct account *a, int what, int64_t now,
               const struct policy_retention_opts *o, struct policy_retention_report *r)
{
	const struct mss_config *cfg = store_config(st);
	int64_t active = a->last_login > a->created ? a->last_login : a->created;
	int64_t idle_days = (now - active) / 86400;
	char err[512];
	if (o->each)
		o->each(o->arg, a->address, what == 1 ? "warn" : "delete", idle_days);
	if (o->dry_run)
		return 0;
	if (what == 1) {
		int rc = vault_notify_inactive(st, a->address, delete_after(cfg, a, now));
		if (account_set_warned(st, a->id, now, err, sizeof err) < 0)
			return -1;
		audit_retention(st, a, "retention.warn", idle_days, rc == 0 ? "ok" : "failed");
		r->warned++;
		return 0;
	}
	struct account gone;
	int rc = policy_account_delete(st, a->address, &gone, err, sizeof err);
	if (rc == 1)
		return 0; /* deleted meanwhile */
	audit_retention(st, a, "retention.delete", idle_days,
	                rc == 0   ? "ok"
	                : rc == 2 ? "partial"
	                          : "failed");
	if (rc < 0)
		log_err("retention", "user=%s result=failed error=\"%s\"", a->address, err);
	else
		r->deleted++;
	return rc < 0 ? -1 : 0;
}

int policy_retention_run(struct store *st, int64_t now, const struct policy_retention_opts *o,
                         struct policy_retention_report *r)
{
	const struct mss_config *cfg = store_config(st);
	struct candidates c = {0};
	memset(r, 0, sizeof *r);
	if (account_foreach(st, collect, &c) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < c.n; i++) {
		int what = decide(cfg, &c.v[i], now);
		r->accounts++;
		if (what != 0 && act(st, &c.v[i], what, now, o, r) < 0)
			rc = -1;
	}
	free(c.v);
	return rc;
}

int policy_retention_lock(const struct mss_config *cfg)
{
	char path[CONFIG_PATH_MAX + 64];
	if (config_data_path(cfg, "run/retention.lock", path, sizeof path) != 0)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void run_once(const struct mss_config *cfg)
{
	int lock = policy_retention_lock(cfg);
	if (lock < 0)
		return; /* the other daemon is at it */
	char err[512];
	/* the daemons' user: no master key (root's); warning and deleting need no account
	 * key (a notice is delivered to the account's public key) */
	struct store *st =
	    getuid() == 0 ? store_open(cfg, err, sizeof err) : store_open_nokeys(cfg, err, sizeof err);
	if (st == NULL) {
		log_err("retention", "result=failed error=\"%s\"", err);
	} else {
		struct policy_retention_opts o = {0};
		struct policy_retention_report r;
		int rc = policy_retention_run(st, (int64_t)time(NULL), &o, &r);
		log_info("retention", "result=%s accounts=%zu warned=%zu deleted=%zu",
		         rc == 0 ? "ok" : "failed", r.accounts, r.warned, r.deleted);
		store_close(st);
	}
	close(lock);
}

pid_t policy_retention_start(const struct mss_config *cfg)
{
	if (cfg->inactive_delete == 0)
		return 0;
	/* started again when it dies, after a pause (lib/keeper.h) */
	struct keeper k = {"retention", "mss-retain-keep", SIGTERM, cfg->child_restart_max, -1};
	pid_t pid = keeper_fork(&k);
	if (pid != 0)
		return pid;
	pid_t parent = getppid(); /* its keeper */
	char err[256];
	if (master_drop_privileges(cfg->user, err, sizeof err) < 0) {
		log_err("retention", "result=failed error=\"%s\"", err);
		_exit(1);
	}
	/* after the switch, which clears it: ends with the daemon that started it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	for (;;) {
		run_once(cfg);
		sleep(cfg->retention_interval);
	}
}

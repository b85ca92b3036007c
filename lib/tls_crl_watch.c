/* tls_crl_watch.c: when the CRL is re-read, and what is logged (see tls_int.h).
 *
 * Sessions are forked from the master with a copy of its context, so each session
 * notices a changed file on its own (one stat, at most once a second). What is
 * logged goes through a page shared by the master and all its sessions: a refused or
 * newly loaded file is logged once, not once per session, and the "past nextUpdate"
 * warning at most once per TLS_CRL_WARN_INTERVAL. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/log.h"
#include "lib/tls_int.h"

static struct tls_shared *shared_new(void)
{
	void *p =
	    mmap(NULL, sizeof(struct tls_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) /* a few bytes of memory: out of memory, as xmalloc treats it */
		abort();
	return p;
}

/* FNV-1a over the fields of a stamp: equal states give equal hashes (an unreadable
 * file, a zeroed stamp, always the same one). */
static uint64_t stamp_hash(const struct tls_stamp *st)
{
	const int64_t f[] = {(int64_t)st->dev,  (int64_t)st->ino, (int64_t)st->size, st->mtime.tv_sec,
	                     st->mtime.tv_nsec, st->ctime.tv_sec, st->ctime.tv_nsec};
	const unsigned char *p = (const unsigned char *)f;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(f); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h ? h : 1;
}

/* True for the first process to report this file state. */
static bool first_to_log(struct tls_crl_watch *w, const struct tls_stamp *st)
{
	uint64_t h = stamp_hash(st);

	return __atomic_exchange_n(&w->shared->logged_stamp, h, __ATOMIC_SEQ_CST) != h;
}

static void warn_stale(struct tls_crl_watch *w, bool always)
{
	int64_t now = (int64_t)time(NULL);
	int64_t last = __atomic_load_n(&w->shared->last_stale_warn, __ATOMIC_SEQ_CST);
	char when[32], file[512];

	if (!w->next_update || now <= (int64_t)w->next_update)
		return;
	if (!always && now - last < TLS_CRL_WARN_INTERVAL)
		return;
	if (!__atomic_compare_exchange_n(&w->shared->last_stale_warn, &last, now, false, __ATOMIC_SEQ_CST,
	                                 __ATOMIC_SEQ_CST) &&
	    !always)
		return;
	tls_format_time(w->next_update, when, sizeof(when));
	/* CONF.22: the last valid CRL stays in force; refusing every certificate would be
	 * worse than a revocation list a few hours old. */
	log_warn("tls.crl_stale", "file=%s next_update=%s action=kept-in-force",
	         log_quote(file, sizeof(file), w->path), when);
}

/* Reads and installs the file. Returns as tls_crl_install_fn; st gets the stamp. */
static int load(struct tls_crl_watch *w, struct tls_stamp *st, time_t *next, char *err, size_t errlen)
{
	struct buf data;
	int rc;

	buf_init(&data, TLS_CRL_MAX_BYTES);
	memset(st, 0, sizeof(*st));
	rc = tls_file_read(w->path, "CRL file", TLS_CRL_MAX_BYTES, &data, st, err, errlen);
	if (rc == 0)
		rc = w->install(w->backend, w->path, &data, next, err, errlen);
	buf_free(&data);
	return rc;
}

int tls_crl_watch_init(struct tls_crl_watch *w, const char *path, tls_crl_install_fn install, void *backend,
                       char *err, size_t errlen)
{
	struct tls_stamp st;
	time_t next = 0;

	memset(w, 0, sizeof(*w));
	w->shared = shared_new();
	w->install = install;
	w->backend = backend;
	w->last_check_ms = tls_now_ms();
	if (!path || !*path)
		return 0;
	w->path = xstrdup(path);
	if (load(w, &st, &next, err, errlen) != 0)
		return -1;
	w->in_force = st;
	w->next_update = next;
	warn_stale(w, true);
	return 0;
}

/* Loads the file; on refusal the CRL in force stays. Logs the outcome once per file
 * state. Returns 1 installed, -1 refused. */
static int reload(struct tls_crl_watch *w, char *err, size_t errlen)
{
	struct tls_stamp st;
	time_t next = 0;
	char file[512], why[512];
	int rc = load(w, &st, &next, err, errlen);

	if (rc == 0) {
		w->in_force = st;
		w->next_update = next;
		memset(&w->refused, 0, sizeof(w->refused));
		if (first_to_log(w, &st))
			log_info("tls.crl_loaded", "file=%s", log_quote(file, sizeof(file), w->path));
		warn_stale(w, false);
		return 1;
	}
	if (rc == -1)
		w->refused = st;
	if (first_to_log(w, &st))
		log_warn("tls.crl_refused", "file=%s error=%s action=previous-kept",
		         log_quote(file, sizeof(file), w->path), log_quote(why, sizeof(why), err));
	return -1;
}

void tls_crl_watch_check(struct tls_crl_watch *w)
{
	struct tls_stamp st;
	long now = tls_now_ms();
	char err[512];

	if (!w->path || now - w->last_check_ms < 1000)
		return;
	w->last_check_ms = now;
	warn_stale(w, false);
	/* A missing file is tried again each second; the shared page keeps the log to
	 * one line. */
	if (tls_stamp_path(w->path, &st) == 0 &&
	    (tls_stamp_eq(&st, &w->in_force) || tls_stamp_eq(&st, &w->refused)))
		return;
	(void)reload(w, err, sizeof(err));
}

void tls_crl_watch_settle(struct tls_crl_watch *w)
{
	if (!w->path)
		return;
	w->last_check_ms = tls_now_ms() - 1000;
	tls_crl_watch_check(w);
	free(w->path); /* the CRL in force stays: only the file is no longer looked at */
	w->path = NULL;
}

int tls_crl_watch_reload(struct tls_crl_watch *w, char *err, size_t errlen)
{
	if (!w->path)
		return 0;
	w->last_check_ms = tls_now_ms();
	return reload(w, err, errlen);
}

void tls_crl_watch_take(struct tls_crl_watch *to, struct tls_crl_watch *from)
{
	struct tls_shared *shared = to->shared;

	free(to->path);
	*to = *from;
	/* The shared page stays the one the sessions already forked know. */
	if (shared) {
		if (from->shared != shared)
			munmap(from->shared, sizeof(*from->shared));
		to->shared = shared;
	}
	memset(from, 0, sizeof(*from));
}

void tls_crl_watch_free(struct tls_crl_watch *w)
{
	free(w->path);
	if (w->shared)
		munmap(w->shared, sizeof(*w->shared));
	memset(w, 0, sizeof(*w));
}

/* test_queue_key.c: the outbound queue is write-only (issue 12, queue/queue.h), with a
 * real account key agent: any channel queues (the queue's public key), each message
 * under a key of its own that the master key's old "mssqueue" subkey does not open;
 * only a queue channel (and mssctl's admin one) reads the queue, any other asking for
 * its secret key or the old key is refused, logged (asked=queue) and closed; mssctl
 * migrate reseals a message queued by an older MSS. On SQLite and PostgreSQL. */
#include "test_store_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"
#include "queue/queue.h"
#include "queue/queue_schema.h"
#include "store/store_agent.h"
#include "store/store_int.h"
#include "store/store_sql.h"

#define FROM "dr.martin@pro.mss.test"
#define RCPT "dr.x@other-operator.test"
#define BODY "Subject: CR\r\n\r\nCompte rendu 4242\r\n"

struct agent_fixture {
	struct store_fixture *f;
	struct store_agent a;
	char log[600];
	int saved_stderr;
};

static struct agent_fixture af;

/* The agent's lines (stderr, inherited) go to a file the test reads. */
static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	af.f = *state;
	if (sql_migrate(store_sql(af.f->st), &queue_schema, NULL, af.f->err, sizeof(af.f->err)) < 0 ||
	    str_format(af.log, sizeof(af.log), "%s/agent.log", af.f->dir) != 0)
		return -1;
	int fd = open(af.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	af.saved_stderr = dup(2);
	if (fd < 0 || dup2(fd, 2) < 0)
		return -1;
	close(fd);
	log_open("test_queue_key", 1);
	if (store_agent_start(&af.a, &af.f->cfg, af.f->err, sizeof(af.f->err)) < 0)
		return -1;
	return store_agent_check(&af.a, &af.f->cfg, af.f->err, sizeof(af.f->err));
}

static int teardown(void **state)
{
	store_agent_forget(&af.a);
	waitpid(af.a.pid, NULL, 0);
	dup2(af.saved_stderr, 2);
	close(af.saved_stderr);
	return store_fixture_teardown(state);
}

static bool logged(const char *what)
{
	char text[8192];
	int fd = open(af.log, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	text[n] = '\0';
	return strstr(text, what) != NULL;
}

/* A session's store: no master key, keys over a new channel of kind. */
static struct store *session_store(enum store_agent_kind kind, const char *session)
{
	struct store *st = store_open_nokeys(&af.f->cfg, af.f->err, sizeof(af.f->err));
	assert_non_null(st);
	int fd = store_agent_channel(&af.a, kind, session);
	assert_true(fd >= 0);
	store_use_agent(st, fd);
	return st;
}

static void put(struct store *st, const char *qid)
{
	const char *rcpts[] = {RCPT};
	struct queue_put m = {.qid = qid,
	                      .mail_from = FROM,
	                      .account = FROM,
	                      .rcpts = rcpts,
	                      .nrcpt = 1,
	                      .data = BODY,
	                      .len = strlen(BODY),
	                      .now = 1000};
	assert_int_equal(queue_put(st, &m, NULL, af.f->err, sizeof(af.f->err)), 0);
}

static void file_of(const char *qid, char *path, size_t len)
{
	assert_int_equal(str_format(path, len, "%s/blobs/queue/%s", af.f->cfg.data_dir, qid), 0);
}

/* Whether the master key's old "mssqueue" subkey opens qid's file. */
static bool old_key_opens(const char *qid)
{
	unsigned char old[CRYPTO_KEY_LEN];
	char path[600];
	struct buf out;
	file_of(qid, path, sizeof(path));
	crypto_subkey(old, af.f->st->master, 1, "mssqueue");
	buf_init(&out, BUF_UNLIMITED);
	int rc = crypto_blob_read(path, old, &out, af.f->err, sizeof(af.f->err));
	buf_free(&out);
	return rc == 0;
}

static void assert_reads(struct store *st, const char *qid)
{
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	int rc = queue_read(st, qid, &out, af.f->err, sizeof(af.f->err));
	if (rc != 0) { /* say why (seen on a loaded fresh root), the agent's lines too */
		dprintf(af.saved_stderr, "queue_read %s: %s\n", qid, af.f->err);
		char text[4096];
		int fd = open(af.log, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0)
			dprintf(af.saved_stderr, "%.*s", (int)n, text);
	}
	assert_int_equal(rc, 0);
	assert_string_equal(out.data, BODY);
	buf_free(&out);
}

/* A submission session (bound) queues, but cannot read back; the queue process can. */
static void test_write_only(void **state)
{
	(void)state;
	struct buf out;
	struct store *sub = session_store(STORE_AGENT_BOUND, "sub1");
	put(sub, "Q1");
	assert_false(old_key_opens("Q1"));
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(queue_read(sub, "Q1", &out, af.f->err, sizeof(af.f->err)), -1);
	buf_free(&out);
	assert_true(logged("keyagent.refused session=sub1 kind=bound bound=- asked=queue "));
	assert_int_equal(sub->agent_fd, -1); /* closed */
	store_close(sub);
	/* an MX session (the vault's KO notices) queues too, and reads nothing */
	struct store *mx = session_store(STORE_AGENT_MX, "mx1");
	put(mx, "Q2");
	unsigned char old[CRYPTO_KEY_LEN];
	assert_int_equal(store_service_key(mx, "mssqueue", old, af.f->err, sizeof(af.f->err)), -1);
	assert_true(logged("keyagent.refused session=mx1 kind=mx bound=- asked=queue "));
	store_close(mx);
	struct store *q = session_store(STORE_AGENT_QUEUE, "queue");
	assert_reads(q, "Q1");
	assert_reads(q, "Q2");
	store_close(q);
	struct store *admin = session_store(STORE_AGENT_ADMIN, "mssctl");
	assert_reads(admin, "Q2");
	store_close(admin);
	assert_false(logged("kind=queue"));
}

/* A message queued by an older MSS: its file under the old subkey, no sealed key. */
static void put_old(const char *qid)
{
	unsigned char old[CRYPTO_KEY_LEN];
	char path[600], dir[600];
	struct sql *db = store_sql(af.f->st);
	assert_int_equal(str_format(dir, sizeof(dir), "%s/blobs/queue", af.f->cfg.data_dir), 0);
	(void)mkdir(dir, 0700);
	file_of(qid, path, sizeof(path));
	crypto_subkey(old, af.f->st->master, 1, "mssqueue");
	assert_int_equal(crypto_blob_write_file(path, old, BODY, strlen(BODY), af.f->err, sizeof(af.f->err)),
	                 0);
	assert_int_equal(sql_exec(db, "t",
	                          "INSERT INTO queue_messages(qid, mail_from, account, size, created) "
	                          "VALUES (?1, ?2, ?2, ?3, 1000)",
	                          SQL_ARGS(SQL_TEXT(qid), SQL_TEXT(FROM), SQL_INT(strlen(BODY))), af.f->err,
	                          sizeof(af.f->err)),
	                 1);
	assert_int_equal(sql_exec(db, "t",
	                          "INSERT INTO queue_rcpts(qid, rcpt, domain, next_attempt) "
	                          "VALUES (?1, ?2, 'other-operator.test', 1000)",
	                          SQL_ARGS(SQL_TEXT(qid), SQL_TEXT(RCPT)), af.f->err, sizeof(af.f->err)),
	                 1);
}

static void test_migrate_reseals(void **state)
{
	(void)state;
	struct buf out;
	size_t n = 9;
	char path[600];
	put_old("OLD1");
	assert_true(old_key_opens("OLD1"));
	struct store *q = session_store(STORE_AGENT_QUEUE, "queue");
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(queue_read(q, "OLD1", &out, af.f->err, sizeof(af.f->err)), -1);
	assert_non_null(strstr(af.f->err, "run mssctl migrate"));
	buf_free(&out);
	/* the queue process may not reseal: the old key is mssctl's */
	assert_int_equal(queue_reseal_all(q, &n, af.f->err, sizeof(af.f->err)), -1);
	assert_true(logged("keyagent.refused session=queue kind=queue bound=- asked=queue "));
	store_close(q);
	/* mssctl migrate, over its admin channel */
	struct store *admin = session_store(STORE_AGENT_ADMIN, "mssctl");
	assert_int_equal(queue_reseal_all(admin, &n, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_reseal_all(admin, &n, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(n, 0);
	store_close(admin);
	assert_false(old_key_opens("OLD1"));
	file_of("OLD1.reseal", path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
	q = session_store(STORE_AGENT_QUEUE, "queue2");
	assert_reads(q, "OLD1");
	store_close(q);
}

/* A migrate cut after its commit left <qid>.reseal: the next one moves it into place. */
static void test_migrate_finishes(void **state)
{
	(void)state;
	size_t n = 9;
	char path[600], tmp[600];
	put(af.f->st, "Q3");
	file_of("Q3", path, sizeof(path));
	file_of("Q3.reseal", tmp, sizeof(tmp));
	assert_int_equal(rename(path, tmp), 0);
	assert_int_equal(queue_reseal_all(af.f->st, &n, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_reads(af.f->st, "Q3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_reseals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_finishes, setup, teardown),
	};
	return STORE_RUN_GROUPS("queue key", tests);
}

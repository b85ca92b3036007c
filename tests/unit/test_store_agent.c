/* test_store_agent.c: the account key agent (issue 12, store/store_agent.h) and the
 * account-bound wraps it unwraps, with a real agent process: a bound channel gives the
 * first account asked for and refuses (logs, closes) any other; an MX channel gives
 * no account key but makes new accounts; a forged request closes the channel; two
 * accounts' wrapped keys swapped in the database unwrap for neither; mssctl migrate's
 * pass rewrites first-format wraps, which the agent refuses until then. On SQLite and
 * PostgreSQL. */
#include "test_store_util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"
#include "store/store_agent.h"
#include "store/store_agent_msg.h"
#include "store/store_int.h"
#include "store/store_sql.h"

#define PAT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"
#define NEWPRO "dr.new@pro.mss.test"

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
	if (store_user_create(af.f->st, PAT, af.f->err, sizeof(af.f->err)) != 0 ||
	    store_user_create(af.f->st, PRO, af.f->err, sizeof(af.f->err)) != 0)
		return -1;
	if (str_format(af.log, sizeof(af.log), "%s/agent.log", af.f->dir) != 0)
		return -1;
	int fd = open(af.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	af.saved_stderr = dup(2);
	if (fd < 0 || dup2(fd, 2) < 0)
		return -1;
	close(fd);
	log_open("test_store_agent", 1);
	if (store_agent_start(&af.a, &af.f->cfg, af.f->err, sizeof(af.f->err)) < 0)
		return -1;
	return store_agent_check(&af.a, &af.f->cfg, af.f->err, sizeof(af.f->err));
}

static int teardown(void **state)
{
	store_agent_forget(&af.a); /* the agent sees its master gone and ends */
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

/* A session's store: no master key, account keys over a new channel of kind. */
static struct store *session_store(enum store_agent_kind kind)
{
	struct store *st = store_open_nokeys(&af.f->cfg, af.f->err, sizeof(af.f->err));
	assert_non_null(st);
	int fd = store_agent_channel(&af.a, kind, "sess1");
	assert_true(fd >= 0);
	store_use_agent(st, fd);
	return st;
}

static int64_t user_id(const char *address)
{
	int64_t id = 0;
	assert_int_equal(store_user_id(af.f->st, address, &id, af.f->err, sizeof(af.f->err)), 1);
	return id;
}

/* The key the master key unwraps in this (mssctl's) process, for comparison. */
static void master_key_of(const char *address, unsigned char key[CRYPTO_KEY_LEN])
{
	assert_int_equal(store_user_key(af.f->st, user_id(address), key, af.f->err, sizeof(af.f->err)), 0);
}

static void test_bound_channel(void **state)
{
	(void)state;
	unsigned char want[CRYPTO_KEY_LEN], key[CRYPTO_KEY_LEN];
	struct store *st = session_store(STORE_AGENT_BOUND);
	master_key_of(PAT, want);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), 0);
	assert_memory_equal(key, want, CRYPTO_KEY_LEN);
	/* the first account bound the channel: another is refused and the channel closed */
	assert_int_equal(store_user_key(st, user_id(PRO), key, af.f->err, sizeof(af.f->err)), -1);
	assert_non_null(strstr(af.f->err, "refused"));
	assert_true(logged("keyagent.refused session=sess1 kind=bound bound=" PAT " asked=" PRO));
	assert_false(logged(sodium_bin2hex((char[65]){0}, 65, want, sizeof(want))));
	/* nothing more over a closed channel, not even the account it was bound to (not cached
	 * in a new store) */
	assert_int_equal(st->agent_fd, -1);
	store_close(st);
	sodium_memzero(want, sizeof(want));
}

/* The store of a bound session (mss-imapd's) refuses a second account itself: the
 * channel stays open and the first account's key is still given. */
static void test_bound_store(void **state)
{
	(void)state;
	unsigned char want[CRYPTO_KEY_LEN], key[CRYPTO_KEY_LEN];
	struct store *st = session_store(STORE_AGENT_BOUND);
	store_agent_bind(st);
	master_key_of(PRO, want);
	assert_int_equal(store_user_key(st, user_id(PRO), key, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), -1);
	assert_non_null(strstr(af.f->err, "reads with " PRO "'s key only"));
	assert_true(st->agent_fd >= 0);
	assert_false(logged("keyagent.refused"));
	store_close(st);
	st = session_store(STORE_AGENT_BOUND); /* a new session, the cache empty */
	store_agent_bind(st);
	assert_int_equal(store_user_key(st, user_id(PRO), key, af.f->err, sizeof(af.f->err)), 0);
	assert_memory_equal(key, want, CRYPTO_KEY_LEN);
	store_close(st);
	sodium_memzero(want, sizeof(want));
}

static void test_mx_channel(void **state)
{
	(void)state;
	unsigned char key[CRYPTO_KEY_LEN];
	struct store *st = session_store(STORE_AGENT_MX);
	/* a new account (the vault's professional on delivery): made, its key never sent */
	assert_int_equal(store_user_create(st, NEWPRO, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), -1);
	assert_true(logged("keyagent.refused session=sess1 kind=mx bound=- asked=" PAT));
	store_close(st);
	master_key_of(NEWPRO, key); /* wrapped for its account by the agent */
}

static void test_forged_request(void **state)
{
	(void)state;
	int fd = store_agent_channel(&af.a, STORE_AGENT_ANY, "sess2");
	char junk[100] = "not a request";
	assert_true(fd >= 0);
	assert_int_equal(send(fd, junk, sizeof(junk), 0), sizeof(junk));
	assert_int_equal(recv(fd, junk, sizeof(junk), 0), 0); /* closed */
	close(fd);
	assert_true(logged(
	    "keyagent.refused session=sess2 kind=any bound=- asked=- error=\"forged or truncated request\""));
}

/* Two accounts' wrapped keys swapped: neither unwraps, with the agent or the master key. */
static void test_swapped_wraps(void **state)
{
	(void)state;
	unsigned char key[CRYPTO_KEY_LEN];
	struct sql *db = store_sql(af.f->st);
	char w[2][CRYPTO_WRAPPED_HEX_LEN + 8];
	const char *who[2] = {PAT, PRO};
	for (size_t i = 0; i < 2; i++) {
		struct sql_stmt *q =
		    sql_query(db, "t", "SELECT wrapped_key FROM store_users WHERE address = ?1",
		              SQL_ARGS(SQL_TEXT(who[i])), af.f->err, sizeof(af.f->err));
		assert_non_null(q);
		assert_int_equal(sql_next(q, af.f->err, sizeof(af.f->err)), 1);
		assert_int_equal(sql_text_copy(q, 0, w[i], sizeof(w[i])), 0);
		sql_done(q);
	}
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(
		    sql_exec(db, "t", "UPDATE store_users SET wrapped_key = ?2 WHERE address = ?1",
		             SQL_ARGS(SQL_TEXT(who[i]), SQL_TEXT(w[1 - i])), af.f->err, sizeof(af.f->err)),
		    1);
	struct store *st = session_store(STORE_AGENT_ANY);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), -1);
	assert_non_null(strstr(af.f->err, "cannot be unwrapped"));
	assert_int_equal(store_user_key(st, user_id(PRO), key, af.f->err, sizeof(af.f->err)), -1);
	assert_true(logged("keyagent.unwrap_failed session=sess1"));
	store_close(st);
	store_close(af.f->st);
	af.f->st = store_open(&af.f->cfg, af.f->err, sizeof(af.f->err));
	assert_non_null(af.f->st);
	assert_int_equal(store_user_key(af.f->st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), -1);
}

/* migrate's pass: a first-format wrap is refused by the agent until rewritten. */
static void test_wraps_bind(void **state)
{
	(void)state;
	unsigned char want[CRYPTO_KEY_LEN], key[CRYPTO_KEY_LEN];
	char v1[CRYPTO_WRAPPED_V1_HEX_LEN];
	size_t bound = 9;
	master_key_of(PAT, want);
	assert_int_equal(crypto_key_wrap_v1(af.f->st->master, want, v1), 0);
	assert_int_equal(sql_exec(store_sql(af.f->st), "t",
	                          "UPDATE store_users SET wrapped_key = ?2 WHERE address = ?1",
	                          SQL_ARGS(SQL_TEXT(PAT), SQL_TEXT(v1)), af.f->err, sizeof(af.f->err)),
	                 1);
	struct store *st = session_store(STORE_AGENT_ANY);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), -1);
	store_close(st);
	assert_int_equal(store_wraps_bind(af.f->st, &bound, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(bound, 1);
	assert_int_equal(store_wraps_bind(af.f->st, &bound, af.f->err, sizeof(af.f->err)), 0);
	assert_int_equal(bound, 0);
	st = session_store(STORE_AGENT_BOUND);
	assert_int_equal(store_user_key(st, user_id(PAT), key, af.f->err, sizeof(af.f->err)), 0);
	assert_memory_equal(key, want, CRYPTO_KEY_LEN);
	store_close(st);
	/* without the master key, nothing is rewritten */
	st = store_open_nokeys(&af.f->cfg, af.f->err, sizeof(af.f->err));
	assert_int_equal(store_wraps_bind(st, &bound, af.f->err, sizeof(af.f->err)), -1);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bound_channel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bound_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mx_channel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wraps_bind, setup, teardown),
	};
	return STORE_RUN_GROUPS("store agent", tests);
}

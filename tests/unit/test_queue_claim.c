/* test_queue_claim.c: a claim names the batch that made it (queue.h "Claims"). A worker
 * that deferred its recipient and ended is reaped after the queue process claimed that
 * recipient again for another batch: the first batch's end gives back nothing (before,
 * it released the new claim: a wrong last reply, one attempt too many, and the
 * recipient due while another worker sent it). A gone owner's claims are released
 * whole, whatever their generations, older MSS's claims without one included. On
 * SQLite and PostgreSQL. */
#include "test_store_util.h"

#include "queue/queue.h"
#include "queue/queue_schema.h"
#include "store/store_sql.h"

#define FROM "dr.martin@pro.mss.test"
#define BODY "Subject: CR\r\n\r\nCompte rendu 4242\r\n"
#define NOW 1000
#define LEASE 3600
#define MANY 70 /* more generations of one owner than QUEUE_OWNERS_MAX */

static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	return sql_migrate(store_sql(f->st), &queue_schema, NULL, f->err, sizeof(f->err)) < 0 ? -1 : 0;
}

/* Queues qid for n recipients dr.<i>@other-operator.test, due at NOW. */
static void put(struct store_fixture *f, const char *qid, size_t n)
{
	static char addr[MANY + 1][64];
	const char *rcpts[MANY + 1];
	assert_true(n <= MANY + 1);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(str_format(addr[i], sizeof(addr[i]), "dr.%zu@other-operator.test", i), 0);
		rcpts[i] = addr[i];
	}
	struct queue_put m = {.qid = qid,
	                      .mail_from = FROM,
	                      .account = FROM,
	                      .rcpts = rcpts,
	                      .nrcpt = n,
	                      .data = BODY,
	                      .len = strlen(BODY),
	                      .now = NOW};
	assert_int_equal(queue_put(f->st, &m, NULL, f->err, sizeof(f->err)), 0);
}

static void get_rcpt(struct store_fixture *f, const char *qid, size_t i, struct queue_rcpt *out)
{
	struct queue_entry e;
	char addr[64];
	assert_int_equal(queue_get(f->st, qid, &e, f->err, sizeof(f->err)), 0);
	assert_int_equal(str_format(addr, sizeof(addr), "dr.%zu@other-operator.test", i), 0);
	bool found = false;
	for (size_t k = 0; k < e.nrcpt; k++)
		if (strcmp(e.rcpts[k].rcpt, addr) == 0) {
			*out = e.rcpts[k];
			found = true;
		}
	queue_entry_free(&e);
	assert_true(found);
}

static void test_a_batch_gives_back_only_its_own_claim(void **state)
{
	struct store_fixture *f = *state;
	char owner[QUEUE_OWNER_SIZE];
	struct queue_due first, again;
	struct queue_rcpt r;
	size_t n = 0, released = 9;
	assert_int_equal(queue_owner_self(owner, sizeof(owner)), 0);
	put(f, "Q1", 1);
	/* batch 1 claims the recipient; its worker records a deferral, due at once */
	assert_int_equal(queue_due(f->st, owner, NOW, LEASE, &first, 1, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(
	    queue_defer(f->st, "Q1", first.rcpt, NOW, "451 4.3.0 try later", NULL, f->err, sizeof(f->err)),
	    0);
	/* the same queue process claims it again for batch 2 before batch 1's end is seen */
	assert_int_equal(queue_due(f->st, owner, NOW, LEASE, &again, 1, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(again.rcpt, first.rcpt);
	/* batch 1 ends: nothing of it is still claimed */
	assert_int_equal(queue_release(f->st, &first, 1, NOW + 60,
	                               "local: the delivery worker ended (status 0)", &released, f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(released, 0);
	get_rcpt(f, "Q1", 0, &r);
	assert_string_equal(r.claim_owner, again.claim);
	assert_int_equal(r.attempts, 1);
	assert_string_equal(r.last_reply, "451 4.3.0 try later");
	assert_int_equal(r.next_attempt, NOW + LEASE);
	/* no flush may send it beside batch 2 */
	assert_int_equal(queue_flush(f->st, NULL, NOW, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	/* batch 2's worker dies: its claim goes back */
	assert_int_equal(queue_release(f->st, &again, 1, NOW + 60,
	                               "local: the delivery worker ended on signal 9", &released, f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(released, 1);
	get_rcpt(f, "Q1", 0, &r);
	assert_string_equal(r.claim_owner, "");
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.next_attempt, NOW + 60);
}

/* An owner of this kernel that is gone: this process with a later start time. */
static void gone_owner(char *out, size_t len, unsigned later)
{
	char boot[64], ns[64];
	long pid = 0;
	unsigned long long start = 0;
	assert_int_equal(queue_owner_self(out, len), 0);
	assert_int_equal(sscanf(out, "%63s %63s %ld %llu", boot, ns, &pid, &start), 4);
	assert_int_equal(str_format(out, len, "%s %s %ld %llu", boot, ns, pid, start + later), 0);
	assert_int_equal(queue_owner_state(out), QUEUE_OWNER_GONE);
}

/* Recipient i of qid claimed as claim says. */
static void claim_as(struct store_fixture *f, const char *qid, size_t i, const char *claim)
{
	char addr[64];
	assert_int_equal(str_format(addr, sizeof(addr), "dr.%zu@other-operator.test", i), 0);
	assert_int_equal(
	    sql_exec(store_sql(f->st), "test claim",
	             "UPDATE queue_rcpts SET claim_owner = ?1, next_attempt = ?2 "
	             "WHERE qid = ?3 AND rcpt = ?4",
	             SQL_ARGS(SQL_TEXT(claim), SQL_INT(NOW + LEASE), SQL_TEXT(qid), SQL_TEXT(addr)), f->err,
	             sizeof(f->err)),
	    1);
}

static void test_a_gone_owner_is_released_whole(void **state)
{
	struct store_fixture *f = *state;
	char a[QUEUE_OWNER_SIZE], b[QUEUE_OWNER_SIZE], claim[QUEUE_OWNER_SIZE + 32], self[QUEUE_OWNER_SIZE];
	struct queue_rcpt r;
	size_t released = 0;
	put(f, "Q2", MANY + 1);
	gone_owner(a, sizeof(a), 1);
	gone_owner(b, sizeof(b), 2);
	/* owner a: MANY generations, one of them an older MSS's claim (no generation) */
	for (size_t i = 0; i < MANY - 1; i++) {
		assert_int_equal(str_format(claim, sizeof(claim), "%s %zu", a, i + 1), 0);
		claim_as(f, "Q2", i, claim);
	}
	claim_as(f, "Q2", MANY - 1, a);
	/* owner b, after them all; and a claim of this live process, kept */
	assert_int_equal(str_format(claim, sizeof(claim), "%s 7", b), 0);
	claim_as(f, "Q2", MANY, claim);
	put(f, "Q3", 1);
	assert_int_equal(queue_owner_self(self, sizeof(self)), 0);
	assert_int_equal(str_format(claim, sizeof(claim), "%s 3", self), 0);
	claim_as(f, "Q3", 0, claim);
	assert_int_equal(queue_release_gone(f->st, NULL, NOW, &released, f->err, sizeof(f->err)), 0);
	assert_int_equal(released, MANY + 1);
	for (size_t i = 0; i <= MANY; i++) {
		get_rcpt(f, "Q2", i, &r);
		assert_string_equal(r.claim_owner, "");
		assert_int_equal(r.next_attempt, NOW);
	}
	get_rcpt(f, "Q3", 0, &r);
	assert_string_equal(r.claim_owner, claim);
	assert_int_equal(r.next_attempt, NOW + LEASE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_batch_gives_back_only_its_own_claim, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_a_gone_owner_is_released_whole, setup,
	                                    store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("queue claim", tests);
}

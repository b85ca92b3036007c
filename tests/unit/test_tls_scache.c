/* Unit tests: lib/tls_scache.c, the table of encoded TLS sessions shared by a master
 * and the processes it forks (what is kept, for how long, under which id, and that a
 * process forked after the table was made reads and writes the same table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/tls_scache.h"

static void id_of(uint8_t id[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		id[i] = (uint8_t)(seed * 31 + i * 7);
}

static void test_kept_until_it_expires(void **state)
{
	struct tls_scache *c = tls_scache_new(64);
	uint8_t id[32], out[TLS_SCACHE_DER_MAX];
	const uint8_t der[] = "session bytes";

	(void)state;
	assert_non_null(c);
	id_of(id, 1);
	assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), -1);
	assert_int_equal(tls_scache_put(c, id, 32, 100, 200, der, sizeof der), 0);
	assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), (ssize_t)sizeof der);
	assert_memory_equal(out, der, sizeof der);
	assert_int_equal(tls_scache_get(c, id, 32, 199, out, sizeof out), (ssize_t)sizeof der);
	assert_int_equal(tls_scache_get(c, id, 32, 200, out, sizeof out), -1); /* expired */
	assert_int_equal(tls_scache_get(c, id, 31, 100, out, sizeof out), -1); /* another id */
	assert_int_equal(tls_scache_get(c, id, 32, 100, out, 4), -1);          /* no room */
	tls_scache_free(c);
}

static void test_only_its_own_id(void **state)
{
	struct tls_scache *c = tls_scache_new(1); /* every id in the same slot */
	uint8_t a[32], b[32], out[64];

	(void)state;
	id_of(a, 1);
	id_of(b, 2);
	assert_int_equal(tls_scache_put(c, a, 32, 100, 200, (const uint8_t *)"A", 1), 0);
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), -1);
	assert_int_equal(tls_scache_put(c, b, 32, 100, 200, (const uint8_t *)"BB", 2), 0); /* replaces A */
	assert_int_equal(tls_scache_get(c, a, 32, 100, out, sizeof out), -1);
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), 2);
	tls_scache_del(c, a, 32); /* not there: B stays */
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), 2);
	tls_scache_del(c, b, 32);
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), -1);
	tls_scache_free(c);
}

static void test_refusals(void **state)
{
	struct tls_scache *c = tls_scache_new(8);
	static uint8_t big[TLS_SCACHE_DER_MAX + 1];
	uint8_t id[33], out[8];

	(void)state;
	id_of(id, 3);
	assert_null(tls_scache_new(0));
	assert_null(tls_scache_new(TLS_SCACHE_SLOTS_MAX + 1));
	assert_int_equal(tls_scache_put(c, id, 32, 100, 200, big, sizeof big), -1); /* too large */
	assert_int_equal(tls_scache_put(c, id, 33, 100, 200, big, 1), -1);          /* id too long */
	assert_int_equal(tls_scache_put(c, id, 0, 100, 200, big, 1), -1);
	assert_int_equal(tls_scache_put(c, id, 32, 100, 200, big, 0), -1);
	assert_int_equal(tls_scache_put(NULL, id, 32, 100, 200, big, 1), -1);
	assert_int_equal(tls_scache_get(NULL, id, 32, 100, out, sizeof out), -1);
	tls_scache_del(NULL, id, 32);
	tls_scache_clear(NULL);
	tls_scache_free(NULL);
	tls_scache_free(c);
}

static void test_clear_forgets_all(void **state)
{
	struct tls_scache *c = tls_scache_new(16);
	uint8_t id[32], out[8];

	(void)state;
	for (uint8_t i = 0; i < 10; i++) {
		id_of(id, i);
		(void)tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"x", 1);
	}
	tls_scache_clear(c);
	for (uint8_t i = 0; i < 10; i++) {
		id_of(id, i);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), -1);
	}
	tls_scache_free(c);
}

/* Calls fn on every shared mapping of this process (the table's, whatever holds it):
 * what a process sharing the table reaches. */
static void each_shared(void (*fn)(uint8_t *p, size_t n, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long from, to;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &from, &to, perms) == 3 && perms[0] == 'r' &&
		    perms[1] == 'w' && perms[3] == 's')
			fn((uint8_t *)from, to - from, arg);
	}
	fclose(f);
}

/* Counts the bytes 0xA5 in runs of 16 or more: a session's bytes left behind, not a
 * pid or a sequence number that happens to hold one. */
static void count_a5(uint8_t *p, size_t n, void *arg)
{
	size_t run = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] == 0xA5) {
			run++;
			continue;
		}
		if (run >= 16)
			*(size_t *)arg += run;
		run = 0;
	}
}

static void scribble(uint8_t *p, size_t n, void *arg)
{
	(void)arg;
	memset(p, 0xFF, n);
}

/* A slot given to a newer, shorter session keeps no byte of the one it held: a slot's
 * bytes are a session's secrets (its master key, its peer). The table's mapping is
 * searched for the older session's bytes. */
static void test_reused_slot_wiped(void **state)
{
	struct tls_scache *c = tls_scache_new(1);
	static uint8_t older[3000];
	uint8_t a[32], b[32], out[16];
	size_t left = 0;

	(void)state;
	assert_non_null(c);
	memset(older, 0xA5, sizeof older);
	id_of(a, 1);
	id_of(b, 2);
	assert_int_equal(tls_scache_put(c, a, 32, 100, 200, older, sizeof older), 0);
	assert_int_equal(tls_scache_put(c, b, 32, 100, 200, (const uint8_t *)"newer", 5), 0);
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), 5);
	each_shared(count_a5, &left);
	assert_int_equal(left, 0);
	tls_scache_free(c);
}

/* Every byte of the shared table may be a hostile process's (a pre-login process
 * faces the network): the other processes, the master among them, still read, write,
 * clear and unmap only their own table, never past it. */
static void test_hostile_bytes_stay_in_bounds(void **state)
{
	struct tls_scache *c = tls_scache_new(4);
	uint8_t id[32], out[TLS_SCACHE_DER_MAX];
	int status;

	(void)state;
	assert_non_null(c);
	id_of(id, 5);
	assert_int_equal(tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"kept", 4), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		each_shared(scribble, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (uint8_t i = 0; i < 64; i++) {
		id_of(id, i);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), -1);
		(void)tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"x", 1);
		tls_scache_del(c, id, 32);
	}
	tls_scache_clear(c);
	tls_scache_free(c);
}

/* A session kept by one forked process resumes in another: the table is shared. */
static void test_shared_across_fork(void **state)
{
	struct tls_scache *c = tls_scache_new(64);
	uint8_t id[32], out[16];
	int status;
	pid_t pid;

	(void)state;
	id_of(id, 9);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"from child", 10) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), 10);
	assert_memory_equal(out, "from child", 10);
	tls_scache_free(c);
}

/* A forked writer that puts one session (3000 bytes of 0xA5 under seed 7) into the
 * table over and over, after telling the parent, through its pipe, that it has begun:
 * most of its time is spent inside tls_scache_put, holding the slot. */
static pid_t start_writer(struct tls_scache *c, time_t now)
{
	static uint8_t der[3000];
	uint8_t id[32], ready = 1;
	int p[2];

	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* not left behind by a failed assertion */
		memset(der, 0xA5, sizeof der);
		id_of(id, 7);
		(void)tls_scache_put(c, id, 32, now, 200, der, sizeof der);
		if (write(p[1], &ready, 1) != 1)
			_exit(1);
		for (;;)
			(void)tls_scache_put(c, id, 32, now, 200, der, sizeof der);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ready, 1), 1);
	close(p[0]);
	usleep(300); /* the writer back in its loop, not in write() */
	return pid;
}

static void end_writer(pid_t pid)
{
	int status;

	(void)kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* A writer killed while it fills a slot (kill -9, a crash) leaves it odd: the next
 * writer takes it over, and nothing the dead one wrote stays. Killed at once after it
 * began, the writer is mostly caught inside tls_scache_put: the loop stops after 5
 * such kills (at most 300 tries). */
static void test_dead_writer_slot_taken_over(void **state)
{
	struct tls_scache *c = tls_scache_new(1);
	uint8_t id7[32], id[32], out[TLS_SCACHE_DER_MAX];
	int caught = 0;

	(void)state;
	id_of(id7, 7);
	id_of(id, 8);
	for (int i = 0; i < 300 && caught < 5; i++) {
		end_writer(start_writer(c, 100));
		if (tls_scache_get(c, id7, 32, 100, out, sizeof out) == 3000)
			continue; /* killed between two puts */
		caught++;
		assert_int_equal(tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"after", 5), 0);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), 5);
		assert_memory_equal(out, "after", 5);
		size_t left = 0;
		each_shared(count_a5, &left);
		assert_int_equal(left, 0);
	}
	assert_true(caught > 0);
	tls_scache_free(c);
}

/* A writer alive (here stopped) inside a slot: readers see no session there and other
 * writers leave it, until it has held the slot TLS_SCACHE_WRITE_MAX seconds. */
static void test_live_writer_slot_not_read(void **state)
{
	struct tls_scache *c = tls_scache_new(1);
	uint8_t id7[32], id[32], out[TLS_SCACHE_DER_MAX];
	int caught = 0;

	(void)state;
	id_of(id7, 7);
	id_of(id, 8);
	for (int i = 0; i < 300 && caught < 5; i++) {
		pid_t pid = start_writer(c, 100);
		assert_int_equal(kill(pid, SIGSTOP), 0);
		assert_int_equal(waitpid(pid, NULL, WUNTRACED), pid);
		if (tls_scache_get(c, id7, 32, 100, out, sizeof out) == 3000) {
			end_writer(pid); /* stopped between two puts */
			continue;
		}
		caught++;
		assert_int_equal(
		    tls_scache_put(c, id, 32, 100 + TLS_SCACHE_WRITE_MAX, 200, (const uint8_t *)"x", 1), -1);
		tls_scache_clear(c); /* leaves it too */
		assert_int_equal(tls_scache_get(c, id7, 32, 100, out, sizeof out), -1);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), -1);
		assert_int_equal(tls_scache_put(c, id, 32, 100 + TLS_SCACHE_WRITE_MAX + 1, 200,
		                                (const uint8_t *)"late", 4),
		                 0);
		end_writer(pid);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), 4);
		assert_memory_equal(out, "late", 4);
	}
	assert_true(caught > 0);
	tls_scache_free(c);
}

/* The session writer w puts at its round k: its length and every byte follow from
 * (w, k), which its first bytes say, so that a reader can tell a torn copy. */
static size_t round_session(uint8_t *der, uint8_t w, uint16_t k)
{
	size_t len = 2000 + (size_t)w * 900;

	der[0] = w;
	der[1] = (uint8_t)(k >> 8);
	der[2] = (uint8_t)k;
	for (size_t j = 3; j < len; j++)
		der[j] = (uint8_t)(w * 29 + k * 7 + j);
	return len;
}

static bool round_whole(const uint8_t *der, size_t len)
{
	static uint8_t want[TLS_SCACHE_DER_MAX];

	return len >= 3 && der[0] < 3 &&
	       round_session(want, der[0], (uint16_t)(der[1] << 8 | der[2])) == len &&
	       memcmp(der, want, len) == 0;
}

/* Three forked writers share a table of 1 slot, each putting its sessions and
 * reading the others'. Each writer's clock runs TLS_SCACHE_WRITE_MAX + 1 seconds per
 * round, so that it often takes a slot over from a writer alive and still writing
 * into it: no reader ever gets a copy that is not one writer's whole session (the
 * sum), and every slot is usable at the end. 20000 rounds each. */
#define ROUNDS 20000
static void round_writer(struct tls_scache *c, uint8_t w)
{
	static uint8_t der[TLS_SCACHE_DER_MAX], out[TLS_SCACHE_DER_MAX];
	uint8_t id[32];

	for (uint16_t k = 0; k < ROUNDS; k++) {
		time_t now = (time_t)k * (TLS_SCACHE_WRITE_MAX + 1);
		size_t len = round_session(der, w, k);
		id_of(id, w);
		(void)tls_scache_put(c, id, 32, now, 1000000, der, len);
		for (uint8_t other = 1; other < 3; other++) {
			id_of(id, (uint8_t)((w + other) % 3));
			ssize_t n = tls_scache_get(c, id, 32, 0, out, sizeof out);
			if (n >= 0 && !round_whole(out, (size_t)n))
				_exit(1);
		}
	}
	_exit(0);
}

static void test_forked_writers_never_tear(void **state)
{
	struct tls_scache *c = tls_scache_new(1);
	uint8_t id[32], out[TLS_SCACHE_DER_MAX];
	pid_t pid[3];
	int status;

	(void)state;
	for (uint8_t w = 0; w < 3; w++) {
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (pid[w] == 0)
			round_writer(c, w);
	}
	for (int w = 0; w < 3; w++) {
		assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (uint8_t i = 0; i < 3; i++) {
		id_of(id, i);
		assert_int_equal(tls_scache_put(c, id, 32, 100, 200, (const uint8_t *)"end", 3), 0);
		assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), 3);
	}
	tls_scache_free(c);
}

/* Under ASan each page of the table touched has its shadow page touched too (the
 * slots are far apart: one shadow page each). */
#if defined(__SANITIZE_ADDRESS__)
#define FAULTS_PER_PAGE 2
#else
#define FAULTS_PER_PAGE 1
#endif

static long minor_faults(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/* A put, and a get, touch one page of the table: a process forked with the table
 * maps its pages at their first touch (a fork does not copy a shared anonymous
 * mapping's page table entries), one fault each, and slots of 4,064 bytes straddled
 * two pages nearly all (about twice the faults counted here). */
static void test_a_slot_is_one_page(void **state)
{
	static uint8_t der[1800], out[TLS_SCACHE_DER_MAX]; /* a session with its certificate */
	struct tls_scache *warm = tls_scache_new(4), *c = tls_scache_new(1024);
	uint8_t id[32];
	long before, faults, gets;
	int kept = 0;

	(void)state;
	memset(der, 0x5a, sizeof der);
	memset(out, 0, sizeof out);
	id_of(id, 1); /* the code and the stack of put and get, touched first */
	assert_int_equal(tls_scache_put(warm, id, 32, 100, 200, der, sizeof der), 0);
	assert_int_equal(tls_scache_get(warm, id, 32, 100, out, sizeof out), (ssize_t)sizeof der);
	before = minor_faults();
	for (uint8_t i = 1; i <= 16; i++) {
		id_of(id, i);
		assert_int_equal(tls_scache_put(c, id, 32, 100, 200, der, sizeof der), 0);
	}
	faults = minor_faults() - before;
	before = minor_faults();
	for (uint8_t i = 1; i <= 16; i++) { /* one per slot: a later id replaced an earlier */
		id_of(id, i);
		kept += tls_scache_get(c, id, 32, 100, out, sizeof out) == (ssize_t)sizeof der;
	}
	gets = minor_faults() - before;
	assert_true(kept >= 8);
	assert_in_range(faults, kept * FAULTS_PER_PAGE, kept * FAULTS_PER_PAGE + kept / 4);
	assert_in_range(gets, 0, 2); /* the pages the puts mapped */
	tls_scache_free(warm);
	tls_scache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kept_until_it_expires),
	    cmocka_unit_test(test_only_its_own_id),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_clear_forgets_all),
	    cmocka_unit_test(test_shared_across_fork),
	    cmocka_unit_test(test_reused_slot_wiped),
	    cmocka_unit_test(test_hostile_bytes_stay_in_bounds),
	    cmocka_unit_test(test_dead_writer_slot_taken_over),
	    cmocka_unit_test(test_live_writer_slot_not_read),
	    cmocka_unit_test(test_forked_writers_never_tear),
	    cmocka_unit_test(test_a_slot_is_one_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

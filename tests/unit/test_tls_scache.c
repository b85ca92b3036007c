/* Unit tests: lib/tls_scache.c, the table of encoded TLS sessions shared by a master
 * and the processes it forks (what is kept, for how long, under which id, and that a
 * process forked after the table was made reads and writes the same table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
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
	assert_int_equal(tls_scache_put(c, id, 32, 200, der, sizeof der), 0);
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
	assert_int_equal(tls_scache_put(c, a, 32, 200, (const uint8_t *)"A", 1), 0);
	assert_int_equal(tls_scache_get(c, b, 32, 100, out, sizeof out), -1);
	assert_int_equal(tls_scache_put(c, b, 32, 200, (const uint8_t *)"BB", 2), 0); /* replaces A */
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
	assert_int_equal(tls_scache_put(c, id, 32, 200, big, sizeof big), -1); /* too large */
	assert_int_equal(tls_scache_put(c, id, 33, 200, big, 1), -1);          /* id too long */
	assert_int_equal(tls_scache_put(c, id, 0, 200, big, 1), -1);
	assert_int_equal(tls_scache_put(c, id, 32, 200, big, 0), -1);
	assert_int_equal(tls_scache_put(NULL, id, 32, 200, big, 1), -1);
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
		(void)tls_scache_put(c, id, 32, 200, (const uint8_t *)"x", 1);
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

static void count_a5(uint8_t *p, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++)
		*(size_t *)arg += p[i] == 0xA5;
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
	assert_int_equal(tls_scache_put(c, a, 32, 200, older, sizeof older), 0);
	assert_int_equal(tls_scache_put(c, b, 32, 200, (const uint8_t *)"newer", 5), 0);
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
	assert_int_equal(tls_scache_put(c, id, 32, 200, (const uint8_t *)"kept", 4), 0);
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
		(void)tls_scache_put(c, id, 32, 200, (const uint8_t *)"x", 1);
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
		_exit(tls_scache_put(c, id, 32, 200, (const uint8_t *)"from child", 10) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(tls_scache_get(c, id, 32, 100, out, sizeof out), 10);
	assert_memory_equal(out, "from child", 10);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

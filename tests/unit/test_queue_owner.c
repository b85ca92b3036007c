/* test_queue_owner.c: a claim's owner (queue.h "Claims") is judged alive only while
 * the very process that made it runs: the same pid with another start time (the pid
 * given again), a zombie and a reaped process are gone; an owner on another kernel (boot
 * id) or in another pid namespace cannot be judged here (unknown: its lease decides). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/str.h"
#include "queue/queue.h"

struct owner {
	char boot[64], ns[64];
	long pid;
	unsigned long long start;
};

static void split(const char *text, struct owner *o)
{
	assert_int_equal(sscanf(text, "%63s %63s %ld %llu", o->boot, o->ns, &o->pid, &o->start), 4);
}

static void join(const struct owner *o, char *out, size_t outlen)
{
	assert_int_equal(str_format(out, outlen, "%s %s %ld %llu", o->boot, o->ns, o->pid, o->start), 0);
}

/* The start time and state of pid from /proc (field 22, field 3). */
static void proc_stat(pid_t pid, unsigned long long *start, char *state)
{
	char path[64], line[1024];
	assert_int_equal(str_format(path, sizeof path, "/proc/%ld/stat", (long)pid), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	const char *rest = strrchr(line, ')');
	assert_non_null(rest);
	assert_int_equal(
	    sscanf(rest + 1,
	           " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu", state,
	           start),
	    2);
}

static void test_self_is_alive_and_a_reused_pid_is_not(void **state)
{
	(void)state;
	char self[QUEUE_OWNER_SIZE], other[QUEUE_OWNER_SIZE];
	struct owner o;
	assert_int_equal(queue_owner_self(self, sizeof self), 0);
	split(self, &o);
	assert_int_equal(o.pid, (long)getpid());
	assert_int_equal(queue_owner_state(self), QUEUE_OWNER_ALIVE);
	o.start++; /* the same pid, a process started later */
	join(&o, other, sizeof other);
	assert_int_equal(queue_owner_state(other), QUEUE_OWNER_GONE);
	assert_int_equal(queue_owner_state(""), QUEUE_OWNER_GONE);
}

static void test_another_kernel_or_namespace_is_unknown(void **state)
{
	(void)state;
	char self[QUEUE_OWNER_SIZE], other[QUEUE_OWNER_SIZE];
	struct owner o, x;
	assert_int_equal(queue_owner_self(self, sizeof self), 0);
	split(self, &o);
	x = o;
	assert_int_equal(str_copy(x.boot, sizeof x.boot, "00000000-0000-0000-0000-000000000000"), 0);
	join(&x, other, sizeof other);
	assert_int_equal(queue_owner_state(other), QUEUE_OWNER_UNKNOWN);
	x = o;
	assert_int_equal(str_copy(x.ns, sizeof x.ns, "pid:[1]"), 0);
	join(&x, other, sizeof other);
	assert_int_equal(queue_owner_state(other), QUEUE_OWNER_UNKNOWN);
	assert_int_equal(queue_owner_state("not an owner"), QUEUE_OWNER_UNKNOWN);
}

static void test_a_child_alive_then_zombie_then_reaped(void **state)
{
	(void)state;
	char self[QUEUE_OWNER_SIZE], child[QUEUE_OWNER_SIZE], st = 0;
	struct owner o;
	assert_int_equal(queue_owner_self(self, sizeof self), 0);
	split(self, &o);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	o.pid = (long)pid;
	proc_stat(pid, &o.start, &st);
	join(&o, child, sizeof child);
	assert_int_equal(queue_owner_state(child), QUEUE_OWNER_ALIVE);
	kill(pid, SIGKILL);
	for (int i = 0; i < 200 && st != 'Z'; i++) { /* dead, not reaped */
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
		unsigned long long ignored;
		proc_stat(pid, &ignored, &st);
	}
	assert_int_equal(st, 'Z');
	assert_int_equal(queue_owner_state(child), QUEUE_OWNER_GONE);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(queue_owner_state(child), QUEUE_OWNER_GONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self_is_alive_and_a_reused_pid_is_not),
	    cmocka_unit_test(test_another_kernel_or_namespace_is_unknown),
	    cmocka_unit_test(test_a_child_alive_then_zombie_then_reaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

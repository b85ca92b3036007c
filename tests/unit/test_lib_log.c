/* Unit tests: lib/log (one line per event on standard error). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/log.h"

/* Standard error goes to a pipe while fn runs; returns what was written (malloc'd). */
static char *captured(void (*fn)(void))
{
	static char got[65536];
	int p[2], saved = dup(STDERR_FILENO);
	size_t n = 0;
	ssize_t r;

	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	close(p[1]);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	while (n + 1 < sizeof got && (r = read(p[0], got + n, sizeof got - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	got[n] = '\0';
	return strdup(got);
}

static void wait_child(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The parent logs first (the pid is then kept), a child and its own child after. */
static void log_from_three_processes(void)
{
	log_info("test.parent", "pid=%ld", (long)getpid());
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		log_info("test.child", "pid=%ld", (long)getpid());
		pid_t grandchild = fork();
		if (grandchild == 0) {
			log_info("test.grandchild", "pid=%ld", (long)getpid());
			_exit(0);
		}
		_exit(grandchild > 0 && waitpid(grandchild, NULL, 0) == grandchild ? 0 : 1);
	}
	wait_child(child);
	log_info("test.parent", "pid=%ld", (long)getpid());
}

/* Every line's "mss-test[PID]" names the process that wrote it, after fork too: the pid
 * is kept per process, not read per line. */
static void test_each_process_logs_its_own_pid(void **state)
{
	(void)state;
	char *out = captured(log_from_three_processes);
	int lines = 0;

	for (char *save = NULL, *line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), lines++) {
		long in_prefix = 0, in_text = 0;
		char *open = strstr(line, "mss-test[");
		char *field = strstr(line, " pid=");
		assert_non_null(open);
		assert_non_null(field);
		in_prefix = strtol(open + strlen("mss-test["), NULL, 10);
		in_text = strtol(field + strlen(" pid="), NULL, 10);
		assert_int_equal(in_prefix, in_text);
	}
	assert_int_equal(lines, 4);
	free(out);
}

static void log_long_and_controls(void)
{
	char big[4000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	errno = EAGAIN;
	log_warn("test.long", "value=%s", big);
	assert_int_equal(errno, EAGAIN); /* callers log, then report errno */
	log_warn("test.controls", "value=a\r\nevent=forged");
}

/* A line longer than the buffer is cut but still ends with its newline; a CR or LF in a
 * value cannot start a line of its own. */
static void test_long_line_cut_and_controls_replaced(void **state)
{
	(void)state;
	char *out = captured(log_long_and_controls);
	char *first_end = strchr(out, '\n');

	assert_non_null(first_end);
	assert_non_null(strstr(out, "event=test.long value=xxx"));
	assert_non_null(strstr(first_end + 1, "event=test.controls value=a??event=forged\n"));
	assert_null(strchr(strchr(first_end + 1, '\n') + 1, '\n'));
	assert_true(first_end[1] != '\0');
	free(out);
}

int main(void)
{
	log_open("mss-test", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_process_logs_its_own_pid),
	    cmocka_unit_test(test_long_line_cut_and_controls_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

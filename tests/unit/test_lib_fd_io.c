/* Unit tests: lib/fd_io (whole reads and writes on a descriptor). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/fd_io.h"

/* More than a pipe holds (64 KiB): the writer's loop must go on after short writes,
 * while the reader's takes it in pieces. */
static void test_more_than_a_pipe_holds_goes_whole(void **state)
{
	(void)state;
	static unsigned char out[200000], in[200000];
	int p[2];
	assert_int_equal(pipe(p), 0);
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (unsigned char)(i * 7);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(fd_write_all(p[1], out, sizeof out) == 0 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(fd_read_exact(p[0], in, sizeof in), 0);
	assert_memory_equal(in, out, sizeof out);
	assert_int_equal(fd_read_exact(p[0], in, 1), -1); /* the end: nothing more */
	close(p[0]);
}

static void test_end_before_n_bytes_fails(void **state)
{
	(void)state;
	int p[2];
	char buf[8];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fd_write_all(p[1], "abc", 3), 0);
	close(p[1]);
	assert_int_equal(fd_read_exact(p[0], buf, sizeof buf), -1);
	close(p[0]);
}

/* A socket whose peer is gone: an error for the caller, not a SIGPIPE that ends the
 * process (the signal's default disposition restored for the test). */
static void test_send_to_a_gone_peer_is_an_error_not_a_signal(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);
	errno = 0;
	assert_int_equal(fd_send_all(sv[0], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	signal(SIGPIPE, old);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_more_than_a_pipe_holds_goes_whole),
	    cmocka_unit_test(test_end_before_n_bytes_fails),
	    cmocka_unit_test(test_send_to_a_gone_peer_is_an_error_not_a_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

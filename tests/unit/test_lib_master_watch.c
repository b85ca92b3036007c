/* Unit tests: lib/master_watch (the master's wait: poll's answer from a kept epoll set). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/master_watch.h"

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* The ready descriptor, and only it, is reported at its own index, as poll would. */
static void test_reports_what_poll_would(void **state)
{
	(void)state;
	struct master_watch w;
	master_watch_init(&w);
	int a[2], b[2];
	pair(a);
	pair(b);
	struct pollfd p[2] = {{.fd = a[0], .events = POLLIN}, {.fd = b[0], .events = POLLIN}};

	assert_int_equal(master_watch_wait(&w, p, 2, 0), 0);
	assert_int_equal(send(b[1], "D", 1, 0), 1);
	assert_int_equal(master_watch_wait(&w, p, 2, 1000), 1);
	assert_int_equal(p[0].revents, 0);
	assert_int_equal(p[1].revents, POLLIN);
	/* level-triggered: still there until read */
	assert_int_equal(master_watch_wait(&w, p, 2, 0), 1);
	char c;
	assert_int_equal(recv(b[0], &c, 1, 0), 1);
	assert_int_equal(master_watch_wait(&w, p, 2, 0), 0);
	close(a[1]); /* a process gone: its socket hangs up */
	assert_int_equal(master_watch_wait(&w, p, 2, 1000), 1);
	assert_true(p[0].revents & POLLHUP);
	master_watch_free(&w);
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

/* A socket the master closed, whose number a new process's socket then got: the same
 * list of numbers, yet the new socket must be watched (epoll dropped the old one). */
static void test_a_number_closed_and_given_again_is_watched(void **state)
{
	(void)state;
	struct master_watch w;
	master_watch_init(&w);
	int a[2], b[2], c[2];
	pair(a);
	pair(b);
	struct pollfd p[2] = {{.fd = a[0], .events = POLLIN}, {.fd = b[0], .events = POLLIN}};

	assert_int_equal(master_watch_wait(&w, p, 2, 0), 0);
	int old = b[0];
	close(b[0]);
	close(b[1]);
	master_watch_changed(); /* as master_reused_close says it */
	pair(c);
	assert_true(c[0] == old || c[1] == old);
	int mine = c[0] == old ? c[0] : c[1], other = c[0] == old ? c[1] : c[0];
	p[1].fd = mine;
	assert_int_equal(send(other, "D", 1, 0), 1);
	assert_int_equal(master_watch_wait(&w, p, 2, 1000), 1);
	assert_int_equal(p[1].revents, POLLIN);
	master_watch_free(&w);
	close(a[0]);
	close(a[1]);
	close(c[0]);
	close(c[1]);
}

/* Other descriptors (a process forked meanwhile): the new one is watched too. */
static void test_a_longer_list_is_watched_whole(void **state)
{
	(void)state;
	struct master_watch w;
	master_watch_init(&w);
	int a[2], b[2];
	pair(a);
	struct pollfd p[2] = {{.fd = a[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};

	assert_int_equal(master_watch_wait(&w, p, 1, 0), 0);
	pair(b);
	p[1].fd = b[0];
	assert_int_equal(send(b[1], "D", 1, 0), 1);
	assert_int_equal(master_watch_wait(&w, p, 2, 1000), 1);
	assert_int_equal(p[1].revents, POLLIN);
	master_watch_free(&w);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reports_what_poll_would),
	    cmocka_unit_test(test_a_number_closed_and_given_again_is_watched),
	    cmocka_unit_test(test_a_longer_list_is_watched_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

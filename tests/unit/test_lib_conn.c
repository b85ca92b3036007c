/* Unit tests: lib/conn line and literal reader, over a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/conn.h"

struct pair {
	struct conn *c;
	int peer;
};

static int setup(void **state)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	struct pair *p = test_malloc(sizeof *p);
	p->c = conn_new(sv[0], "127.0.0.1");
	conn_set_timeout(p->c, 2);
	p->peer = sv[1];
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	conn_free(p->c);
	if (p->peer >= 0)
		close(p->peer);
	test_free(p);
	return 0;
}

static void send_text(struct pair *p, const char *s, size_t n)
{
	assert_int_equal(write(p->peer, s, n), (ssize_t)n);
}

static void test_crlf_and_bare_lf(void **state)
{
	struct pair *p = *state;
	struct buf line;
	buf_init(&line, 1024);
	int flags;
	send_text(p, "EHLO a\r\nNOOP\nQUIT\r\n", 19);
	assert_int_equal(conn_read_line(p->c, &line, 100, &flags), CONN_OK);
	assert_string_equal(line.data, "EHLO a");
	assert_int_equal(flags, 0);
	assert_true(conn_has_buffered_input(p->c));
	assert_int_equal(conn_read_line(p->c, &line, 100, &flags), CONN_OK);
	assert_string_equal(line.data, "NOOP");
	assert_int_equal(flags, CONN_LINE_BARE_LF);
	assert_int_equal(conn_read_line(p->c, &line, 100, &flags), CONN_OK);
	assert_string_equal(line.data, "QUIT");
	assert_false(conn_has_buffered_input(p->c));
	buf_free(&line);
}

static void test_too_long_then_next_line(void **state)
{
	struct pair *p = *state;
	struct buf line;
	buf_init(&line, 1 << 20);
	char big[5000];
	memset(big, 'x', sizeof big);
	send_text(p, big, sizeof big);
	send_text(p, "\r\nNEXT\r\n", 8);
	assert_int_equal(conn_read_line(p->c, &line, 1000, NULL), CONN_TOOLONG);
	assert_int_equal(conn_read_line(p->c, &line, 1000, NULL), CONN_OK);
	assert_string_equal(line.data, "NEXT");
	buf_free(&line);
}

static void test_exact_limit_is_ok(void **state)
{
	struct pair *p = *state;
	struct buf line;
	buf_init(&line, 1 << 20);
	char l[12] = "0123456789\r\n";
	send_text(p, l, sizeof l);
	assert_int_equal(conn_read_line(p->c, &line, 10, NULL), CONN_OK);
	assert_int_equal(line.len, 10);
	send_text(p, "01234567890\r\n", 13);
	assert_int_equal(conn_read_line(p->c, &line, 10, NULL), CONN_TOOLONG);
	buf_free(&line);
}

static void test_nul_flagged(void **state)
{
	struct pair *p = *state;
	struct buf line;
	buf_init(&line, 1024);
	int flags;
	send_text(p, "MA\0IL\r\n", 7);
	assert_int_equal(conn_read_line(p->c, &line, 100, &flags), CONN_OK);
	assert_int_equal(line.len, 5);
	assert_true(flags & CONN_LINE_NUL);
	buf_free(&line);
}

static void test_eof_and_timeout(void **state)
{
	struct pair *p = *state;
	struct buf line;
	buf_init(&line, 1024);
	conn_set_timeout(p->c, 1);
	send_text(p, "partial", 7);
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_TIMEOUT);
	close(p->peer);
	p->peer = -1;
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_EOF);
	buf_free(&line);
}

static void test_read_exact_literal(void **state)
{
	struct pair *p = *state;
	struct buf lit, line;
	buf_init(&lit, 10);
	buf_init(&line, 100);
	send_text(p, "A1 APPEND\r\n0123456789 rest\r\n", 28);
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_OK);
	assert_int_equal(conn_read_exact(p->c, &lit, 10), CONN_OK);
	assert_memory_equal(lit.data, "0123456789", 10);
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_OK);
	assert_string_equal(line.data, " rest");
	buf_reset(&lit);
	send_text(p, "0123456789AB", 12);
	assert_int_equal(conn_read_exact(p->c, &lit, 11), CONN_TOOLONG);
	buf_free(&lit);
	buf_free(&line);
}

static void test_write_flush(void **state)
{
	struct pair *p = *state;
	assert_int_equal(conn_printf(p->c, "250 %s\r\n", "ok"), 0);
	assert_int_equal(conn_puts(p->c, "221 bye\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	char got[64] = {0};
	assert_int_equal(read(p->peer, got, sizeof got - 1), 17);
	assert_string_equal(got, "250 ok\r\n221 bye\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crlf_and_bare_lf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long_then_next_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exact_limit_is_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nul_flagged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof_and_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_exact_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_flush, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

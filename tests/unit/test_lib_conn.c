/* Unit tests: lib/conn line and literal reader, over a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
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

static void test_put_uint(void **state)
{
	struct pair *p = *state;
	assert_int_equal(conn_put_uint(p->c, 0), 0);
	assert_int_equal(conn_puts(p->c, " "), 0);
	assert_int_equal(conn_put_uint(p->c, 100000), 0);
	assert_int_equal(conn_puts(p->c, " "), 0);
	assert_int_equal(conn_put_uint(p->c, UINT64_MAX), 0);
	assert_int_equal(conn_flush(p->c), 0);
	char got[64] = {0};
	assert_int_equal(read(p->peer, got, sizeof got - 1), 29);
	assert_string_equal(got, "0 100000 18446744073709551615");
}

/* COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, each flush a sync point; the
 * reply before the switch goes out in the clear. */
static void test_deflate(void **state)
{
	struct pair *p = *state;
	assert_int_equal(conn_puts(p->c, "a OK DEFLATE active\r\n"), 0);
	char err[64];
	assert_int_equal(conn_start_deflate(p->c, err, sizeof err), 0);
	assert_true(conn_is_deflated(p->c));
	assert_int_equal(conn_start_deflate(p->c, err, sizeof err), -1);
	char clear[64] = {0};
	assert_int_equal(read(p->peer, clear, sizeof clear - 1), 21);
	assert_string_equal(clear, "a OK DEFLATE active\r\n");
	z_stream zo = {0}, zi = {0};
	assert_int_equal(deflateInit2(&zo, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	assert_int_equal(inflateInit2(&zi, -15), Z_OK);
	unsigned char in[] = "b NOOP\r\nc LOGOUT\r\n", z[256];
	zo.next_in = in;
	zo.avail_in = sizeof in - 1;
	zo.next_out = z;
	zo.avail_out = sizeof z;
	assert_int_equal(deflate(&zo, Z_SYNC_FLUSH), Z_OK);
	size_t zn = sizeof z - zo.avail_out;
	send_text(p, (const char *)z, 3); /* in pieces: the reader waits for a whole line */
	send_text(p, (const char *)z + 3, zn - 3);
	struct buf line;
	buf_init(&line, 1024);
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_OK);
	assert_string_equal(line.data, "b NOOP");
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_OK);
	assert_string_equal(line.data, "c LOGOUT");
	assert_int_equal(conn_puts(p->c, "* BYE\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	ssize_t got = read(p->peer, z, sizeof z);
	assert_true(got > 0);
	unsigned char out[64] = {0};
	zi.next_in = z;
	zi.avail_in = (uInt)got;
	zi.next_out = out;
	zi.avail_out = sizeof out - 1;
	assert_int_equal(inflate(&zi, Z_SYNC_FLUSH), Z_OK);
	assert_string_equal((char *)out, "* BYE\r\n");
	/* garbage is an error, not a crash */
	send_text(p, "\xff\xff\xff\xff", 4);
	assert_int_equal(conn_read_line(p->c, &line, 100, NULL), CONN_ERROR);
	deflateEnd(&zo);
	inflateEnd(&zi);
	buf_free(&line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crlf_and_bare_lf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_uint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long_then_next_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exact_limit_is_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nul_flagged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof_and_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_exact_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deflate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

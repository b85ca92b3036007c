/* test_smtpd_relay: the relay's pure parts (issue 13): MX answers into next hops
 * (relay_hop.c: sorted by preference, RFC 7505 null MX, no MX at all), remote replies
 * into one safe line and a verdict (relay_reply.c), the backoff (relay_queue.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config.h"
#include "smtpd/relay_hop.h"
#include "smtpd/relay_queue.h"
#include "smtpd/relay_reply.h"

static size_t put_name(unsigned char *p, const char *name)
{
	size_t o = 0;
	while (*name) {
		size_t n = strcspn(name, ".");
		p[o++] = (unsigned char)n;
		memcpy(p + o, name, n);
		o += n;
		name += n + (name[n] == '.');
	}
	p[o++] = 0;
	return o;
}

/* A DNS answer for example.org with the given MX records (host "" = null MX). */
static int answer(unsigned char *buf, const unsigned *prefs, const char *const *hosts, int n)
{
	size_t o = 12;
	memset(buf, 0, 12);
	buf[2] = 0x81, buf[3] = 0x80, buf[5] = 1, buf[7] = (unsigned char)n;
	o += put_name(buf + o, "example.org");
	buf[o++] = 0, buf[o++] = 15, buf[o++] = 0, buf[o++] = 1;
	for (int i = 0; i < n; i++) {
		unsigned char rd[300];
		size_t rl = 2;
		rd[0] = (unsigned char)(prefs[i] >> 8), rd[1] = (unsigned char)prefs[i];
		rl += put_name(rd + 2, hosts[i]);
		buf[o++] = 0xc0, buf[o++] = 12, buf[o++] = 0, buf[o++] = 15, buf[o++] = 0, buf[o++] = 1;
		memset(buf + o, 0, 4), buf[o + 3] = 60, o += 4;
		buf[o++] = 0, buf[o++] = (unsigned char)rl;
		memcpy(buf + o, rd, rl);
		o += rl;
	}
	return (int)o;
}

static void test_mx_sorted(void **state)
{
	(void)state;
	unsigned char buf[1024];
	unsigned prefs[] = {20, 5, 10};
	const char *hosts[] = {"mx3.example.org", "mx1.example.org", "mx2.example.org"};
	struct relay_hop hops[RELAY_HOPS_MAX];
	char err[128];
	int n = relay_hops_from_answer(buf, answer(buf, prefs, hosts, 3), hops, err, sizeof err);
	assert_int_equal(n, 3);
	assert_string_equal(hops[0].host, "mx1.example.org");
	assert_string_equal(hops[1].host, "mx2.example.org");
	assert_string_equal(hops[2].host, "mx3.example.org");
	assert_int_equal(hops[0].port, 25);
}

static void test_null_mx_and_garbage(void **state)
{
	(void)state;
	unsigned char buf[1024];
	unsigned prefs[] = {0};
	const char *hosts[] = {""};
	struct relay_hop hops[RELAY_HOPS_MAX];
	char err[128];
	assert_int_equal(relay_hops_from_answer(buf, answer(buf, prefs, hosts, 1), hops, err, sizeof err), 0);
	assert_int_equal(relay_hops_from_answer(buf, answer(buf, prefs, hosts, 0), hops, err, sizeof err),
	                 -2);
	assert_int_equal(relay_hops_from_answer((const unsigned char *)"junk", 4, hops, err, sizeof err), -1);
}

static void test_routes_first(void **state)
{
	(void)state;
	struct mss_config c;
	struct relay_hop hops[RELAY_HOPS_MAX];
	char err[128];
	config_defaults(&c);
	assert_int_equal(config_set(&c, "relay_routes", "example.org=127.0.0.1:2525", err, sizeof err), 0);
	assert_int_equal(relay_hops(&c, "EXAMPLE.org", hops, err, sizeof err), 1);
	assert_string_equal(hops[0].host, "127.0.0.1");
	assert_int_equal(hops[0].port, 2525);
}

static void test_reply_line(void **state)
{
	(void)state;
	char out[40];
	relay_reply_line(550, "5.1.1 no\r\n  such\tuser\a\xc3\xa9", out, sizeof out);
	assert_string_equal(out, "550 5.1.1 no such user???");
	relay_reply_line(451, "4.3.0 a reply much longer than the forty bytes it may take", out, sizeof out);
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_string_equal(out + strlen(out) - 3, "...");
	relay_reply_line(0, "timed out", out, sizeof out);
	assert_string_equal(out, "timed out");
	relay_reply_line(250, NULL, out, sizeof out);
	assert_string_equal(out, "250");
	assert_int_equal(relay_reply_verdict(250), RELAY_OK);
	assert_int_equal(relay_reply_verdict(421), RELAY_TEMPORARY);
	assert_int_equal(relay_reply_verdict(554), RELAY_PERMANENT);
	assert_int_equal(relay_reply_verdict(0), RELAY_TEMPORARY);
	assert_int_equal(relay_reply_verdict(999), RELAY_TEMPORARY);
}

static void test_backoff(void **state)
{
	(void)state;
	struct mss_config c;
	config_defaults(&c);
	assert_int_equal(relay_backoff(&c, 0), 60);
	assert_int_equal(relay_backoff(&c, 1), 120);
	assert_int_equal(relay_backoff(&c, 5), 1920);
	assert_int_equal(relay_backoff(&c, 6), 3600);
	assert_int_equal(relay_backoff(&c, 1000), 3600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_sorted),    cmocka_unit_test(test_null_mx_and_garbage),
	    cmocka_unit_test(test_routes_first), cmocka_unit_test(test_reply_line),
	    cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

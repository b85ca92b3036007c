/* Unit tests: the shared counter page and its OpenMetrics text (lib/metrics.h). */
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

#include "lib/metrics.h"

static char path[64];

static char *render(void)
{
	static char text[256 * 1024];
	struct buf b;
	buf_init(&b, sizeof text - 1);
	assert_int_equal(metrics_render(&b), 0);
	memcpy(text, b.data, b.len + 1);
	buf_free(&b);
	return text;
}

static void has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("missing \"%s\" in:\n%s", line, text);
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	snprintf(path, sizeof path, "/tmp/mss-metrics-test-%ld", (long)getpid());
	unlink(path);
	assert_int_equal(metrics_open(path, err, sizeof err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_counters_by_label(void **state)
{
	(void)state;
	metrics_count1(METRICS_SESSIONS, "smtp");
	metrics_count1(METRICS_SESSIONS, "smtp");
	metrics_count1(METRICS_SESSIONS, "imaps");
	const char *const refusal[3] = {"relay_denied", "550", "5.7.1"};
	metrics_count(METRICS_SMTP_REFUSALS, refusal);
	const char *text = render();
	has(text, "# TYPE mss_sessions counter\n");
	has(text, "mss_sessions_total{listener=\"smtp\"} 2\n");
	has(text, "mss_sessions_total{listener=\"imaps\"} 1\n");
	has(text, "mss_smtp_refusals_total{reason=\"relay_denied\",code=\"550\",enhanced=\"5.7.1\"} 1\n");
	has(text, "mss_sessions_running{daemon=\"smtpd\"} 0\n");
	assert_int_equal(strcmp(text + strlen(text) - 6, "# EOF\n"), 0);
}

/* A label value is quoted as OpenMetrics says; one that does not fit is not counted. */
static void test_label_quoting_and_bounds(void **state)
{
	(void)state;
	metrics_count1(METRICS_IMAP_REFUSALS, "a\"b\\c\nd");
	char big[200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	metrics_count1(METRICS_IMAP_REFUSALS, big);
	const char *text = render();
	has(text, "mss_imap_refusals_total{result=\"a\\\"b\\\\c\\nd\"} 1\n");
	assert_null(strstr(text, "xxxxxxxx"));
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	metrics_observe(METRICS_DELIVERY, 500);      /* 0.0005 s */
	metrics_observe(METRICS_DELIVERY, 1000);     /* on the 0.001 bound: in it */
	metrics_observe(METRICS_DELIVERY, 2000000);  /* 2 s */
	metrics_observe(METRICS_DELIVERY, 20000000); /* 20 s: +Inf only */
	metrics_observe(METRICS_IMAP_COMMAND, 3000);
	const char *text = render();
	has(text, "mss_delivery_seconds_bucket{le=\"0.001000\"} 2\n");
	has(text, "mss_delivery_seconds_bucket{le=\"1.000000\"} 2\n");
	has(text, "mss_delivery_seconds_bucket{le=\"2.500000\"} 3\n");
	has(text, "mss_delivery_seconds_bucket{le=\"10.000000\"} 3\n");
	has(text, "mss_delivery_seconds_bucket{le=\"+Inf\"} 4\n");
	has(text, "mss_delivery_seconds_count 4\n");
	has(text, "mss_delivery_seconds_sum 22.001500\n");
	has(text, "mss_command_seconds_bucket{daemon=\"imapd\",le=\"0.005000\"} 1\n");
	has(text, "mss_command_seconds_count{daemon=\"imapd\"} 1\n");
	has(text, "mss_command_seconds_count{daemon=\"smtpd\"} 0\n");
}

/* What a child process (a session) counts, its parent (the server) reads; another
 * daemon opening the same file sees the same values. */
static void test_shared_across_processes_and_opens(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 1000; i++)
			metrics_count1(METRICS_DELIVERIES, "stored");
		_exit(0);
	}
	for (int i = 0; i < 1000; i++)
		metrics_count1(METRICS_DELIVERIES, "stored");
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	has(render(), "mss_deliveries_total{result=\"stored\"} 2000\n");
	char err[256];
	assert_int_equal(metrics_open(path, err, sizeof err), 0);
	has(render(), "mss_deliveries_total{result=\"stored\"} 2000\n");
}

/* A file of another layout (an older version) starts again from zero. */
static void test_other_layout_reset(void **state)
{
	(void)state;
	metrics_count1(METRICS_SESSIONS, "imap");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a metrics page", f);
	fclose(f);
	char err[256];
	assert_int_equal(metrics_open(path, err, sizeof err), 0);
	assert_null(strstr(render(), "listener=\"imap\""));
}

/* Past METRICS_SLOTS label sets, further ones are dropped, the rest still count. */
static void test_full_page(void **state)
{
	(void)state;
	char v[16];
	for (int i = 0; i < METRICS_SLOTS + 50; i++) {
		snprintf(v, sizeof v, "l%d", i);
		metrics_count1(METRICS_SESSIONS, v);
	}
	metrics_count1(METRICS_SESSIONS, "l0");
	const char *text = render();
	has(text, "mss_sessions_total{listener=\"l0\"} 2\n");
	assert_null(strstr(text, "listener=\"l300\""));
}

static void test_missing_directory(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(metrics_open("/nonexistent-mss/run/metrics", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent-mss/run/metrics: No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_counters_by_label, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_quoting_and_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_histogram_cumulative, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shared_across_processes_and_opens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_layout_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_page, setup, teardown),
	    cmocka_unit_test(test_missing_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

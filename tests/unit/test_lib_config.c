/* Unit tests: lib/config, every error path (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/str.h"

struct case_ {
	const char *file;   /* file content */
	const char *expect; /* NULL = loads; else a substring of the error */
};

static const struct case_ cases[] = {
    {"data_dir = /tmp/x\n", NULL},
    {"# comment\n\n  data_dir = /tmp/x  \nmax_message_size = 10M\n", NULL},
    {"data_dir = /tmp/x\nbogus = 1\n", ":2: unknown key \"bogus\""},
    {"data_dir = /tmp/x\ndata_dir = /tmp/y\n", ":2: key \"data_dir\" is given twice"},
    {"data_dir /tmp/x\n", ":1: expected \"key = value\""},
    {" = 3\n", ":1: missing key"},
    {"max_sessions = lots\n", ":1: max_sessions: \"lots\" is not a number"},
    {"max_sessions = 0\n", "out of range"},
    {"max_sessions = 99999999999999999999999\n", "is not a number"},
    {"max_message_size = 10X\n", "is not a size"},
    {"max_message_size = 10\n", "out of range"},
    {"max_message_size = 3G\n", "out of range"},
    {"smtp_command_timeout = 5y\n", "is not a duration"},
    {"log_stderr = maybe\n", "is not yes or no"},
    {"smtp_listen = localhost\n", "is not host:port"},
    {"smtp_listen = 127.0.0.1:0\n", "is not host:port"},
    {"smtp_listen = 127.0.0.1:70000\n", "is not host:port"},
    {"domains = pro.mss.test bad_domain!\n", "\"bad_domain!\" is not a valid domain"},
    {"relay_networks = 192.0.2.0/24, 10.0.0.0/33\n", "is not a valid network"},
    {"relay_networks = nonsense\n", "is not a valid network"},
    {"pharmacy_professions = 21, 2-1\n", "is not a valid code"},
    {"relay_routes = other.test=127.0.0.1\n", "is not a valid route"},
    {"relay_routes = other.test=127.0.0.1:0\n", "is not a valid route"},
    {"relay_routes = bad_domain!=127.0.0.1:25\n", "is not a valid route"},
    {"relay_routes = 127.0.0.1:25\n", "is not a valid route"},
    {"queue_retry = 2h\n", "out of range"},
    {"data_dir = relative/path\n", "data_dir must be an absolute path"},
};

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void test_table(void **state)
{
	(void)state;
	char path[] = "/tmp/mss-config-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mss_config cfg;
		char err[512] = "";
		config_defaults(&cfg);
		write_file(path, cases[i].file);
		int r = config_load(&cfg, path, err, sizeof err);
		if (cases[i].expect == NULL) {
			if (r != 0)
				fail_msg("case %zu: unexpected error %s", i, err);
		} else {
			if (r != -1 || strstr(err, cases[i].expect) == NULL)
				fail_msg("case %zu: expected \"%s\", got r=%d \"%s\"", i, cases[i].expect, r,
				         err);
			if (strncmp(err, path, strlen(path)) != 0)
				fail_msg("case %zu: error does not name the file: %s", i, err);
		}
	}
	unlink(path);
}

static void test_defaults_and_values(void **state)
{
	(void)state;
	struct mss_config cfg;
	char err[256];
	config_defaults(&cfg);
	assert_int_equal(cfg.max_message_size, 25 * 1024 * 1024);
	assert_int_equal(cfg.smtp_command_timeout, 300);
	assert_int_equal(cfg.imap_idle_timeout, 1800);
	assert_int_equal(cfg.imap_history_check, 30);
	assert_int_equal(cfg.smtp_max_recipients, 100);
	assert_string_equal(cfg.pharmacy_professions, "21");
	assert_int_equal(config_set(&cfg, "max_message_size", "1G", err, sizeof err), 0);
	assert_int_equal(cfg.max_message_size, 1024ULL * 1024 * 1024);
	assert_int_equal(config_set(&cfg, "smtp_data_timeout", "2h", err, sizeof err), 0);
	assert_int_equal(cfg.smtp_data_timeout, 7200);
	assert_int_equal(config_set(&cfg, "imap_listen", "[::1]:143", err, sizeof err), 0);
	assert_int_equal(config_set(&cfg, "imap_listen", "", err, sizeof err), 0);
	assert_int_equal(config_set(&cfg, "domains", "pro.mss.test, chu.test", err, sizeof err), 0);
	assert_int_equal(config_set(&cfg, "patient_domain", "patient.mss.test", err, sizeof err), 0);
	assert_true(config_is_local_domain(&cfg, "CHU.test"));
	assert_true(config_is_local_domain(&cfg, "patient.mss.test"));
	assert_false(config_is_local_domain(&cfg, "other.test"));
}

static void test_value_too_long(void **state)
{
	(void)state;
	struct mss_config cfg;
	char err[256];
	char big[CONFIG_STR_MAX + 10];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "user", big, err, sizeof err), -1);
	assert_non_null(strstr(err, "too long"));
}

static void test_missing_file(void **state)
{
	(void)state;
	struct mss_config cfg;
	char err[256];
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, "/nonexistent/mss.conf", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/mss.conf: cannot open"));
}

static void test_line_too_long(void **state)
{
	(void)state;
	char path[] = "/tmp/mss-config-long-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("domains = ", f);
	for (int i = 0; i < 10000; i++)
		fputc('a', f);
	fputc('\n', f);
	fclose(f);
	struct mss_config cfg;
	char err[512];
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, path, err, sizeof err), -1);
	assert_non_null(strstr(err, ":1: line is too long"));
	unlink(path);
}

/* config show writes each value as the file would hold it: reading it back gives the
 * same setting, and sizes and durations use their largest exact unit. */
static void test_format_round_trip(void **state)
{
	(void)state;
	static const struct {
		const char *key, *in, *out;
	} rows[] = {
	    {"max_message_size", "10485760", "10M"},
	    {"max_message_size", "1536", "1536"},
	    {"max_message_size", "2G", "2G"},
	    {"smtp_data_timeout", "900", "15m"},
	    {"notify_access_interval", "0", "0"},
	    {"notify_access_interval", "48h", "2d"},
	    {"log_stderr", "on", "yes"},
	    {"domains", "a.test, b.test", "a.test, b.test"},
	    {"max_sessions", "17", "17"},
	};
	char err[256], out[256];
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		struct mss_config cfg, again;
		config_defaults(&cfg);
		config_defaults(&again);
		assert_int_equal(config_set(&cfg, rows[r].key, rows[r].in, err, sizeof err), 0);
		size_t i = 0;
		while (strcmp(config_key_name(i), rows[r].key) != 0)
			i++;
		assert_int_equal(config_key_format(&cfg, i, out, sizeof out), 0);
		assert_string_equal(out, rows[r].out);
		assert_int_equal(config_set(&again, rows[r].key, out, err, sizeof err), 0);
		assert_memory_equal(&cfg, &again, sizeof cfg);
	}
	assert_null(config_key_name(config_key_count()));
	char tiny[2];
	struct mss_config cfg;
	config_defaults(&cfg);
	assert_int_equal(config_key_format(&cfg, 0, out, sizeof out), 0); /* hostname */
	assert_int_equal(config_key_format(&cfg, 0, tiny, sizeof tiny), -1);
}

/* The shared store's keys (issue 18): their defaults parse (config_defaults aborted
 * on an empty store once), a URI is taken, anything else refused without repeating
 * the value (it may hold a password), and the effective paths fall back on data_dir. */
static void test_store_keys(void **state)
{
	(void)state;
	struct mss_config c;
	char err[256], out[CONFIG_PATH_MAX];
	config_defaults(&c);
	assert_string_equal(c.store, "");
	assert_int_equal(c.store_timeout, 30);
	assert_int_equal(config_set(&c, "store", "postgresql://mss:pw@db.example:5432/mss", err, sizeof err),
	                 0);
	assert_int_equal(config_set(&c, "store", "postgres://mss@db/mss", err, sizeof err), 0);
	assert_int_equal(config_set(&c, "store", "mysql://root:hunter2@db/mss", err, sizeof err), -1);
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(config_set(&c, "store_timeout", "0", err, sizeof err), -1);
	assert_int_equal(str_copy(c.data_dir, sizeof c.data_dir, "/var/lib/mss"), 0);
	assert_int_equal(config_blob_dir(&c, out, sizeof out), 0);
	assert_string_equal(out, "/var/lib/mss/blobs");
	assert_int_equal(config_master_key_file(&c, out, sizeof out), 0);
	assert_string_equal(out, "/var/lib/mss/keys/master.key");
	assert_int_equal(config_set(&c, "blob_dir", "/srv/mss-blobs", err, sizeof err), 0);
	assert_int_equal(config_blob_dir(&c, out, sizeof out), 0);
	assert_string_equal(out, "/srv/mss-blobs");
}

/* relay_routes (issue 13): DOMAIN=HOST:PORT pairs, looked up case-insensitively. */
static void test_relay_routes(void **state)
{
	(void)state;
	struct mss_config c;
	char err[256], host[256];
	unsigned port = 0;
	config_defaults(&c);
	assert_int_equal(c.queue_retry, 60);
	assert_int_equal(c.queue_lifetime, 5 * 86400);
	assert_int_equal(c.queue_scan_interval, 1);
	assert_int_equal(c.relay_max_connections, 10);
	assert_int_equal(c.relay_max_per_domain, 5);
	assert_int_equal(config_set(&c, "relay_max_connections", "101", err, sizeof err), -1);
	assert_int_equal(config_set(&c, "relay_max_per_domain", "0", err, sizeof err), -1);
	assert_int_equal(c.relay_connection_reuse_time, 2);
	assert_int_equal(c.relay_connection_reuse_count, 100);
	assert_int_equal(config_set(&c, "relay_connection_reuse_time", "0", err, sizeof err), 0);
	assert_int_equal(config_set(&c, "relay_connection_reuse_count", "0", err, sizeof err), -1);
	assert_int_equal(config_relay_route(&c, "other.test", host, sizeof host, &port), 0);
	assert_int_equal(
	    config_set(&c, "relay_routes", "a.test=127.0.0.1:2525, Other.Test=[::1]:25", err, sizeof err), 0);
	assert_int_equal(config_relay_route(&c, "other.test", host, sizeof host, &port), 1);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 25);
	assert_int_equal(config_relay_route(&c, "A.TEST", host, sizeof host, &port), 1);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 2525);
	assert_int_equal(config_relay_route(&c, "test", host, sizeof host, &port), 0);
	assert_int_equal(config_relay_route(&c, "b.a.test", host, sizeof host, &port), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),          cmocka_unit_test(test_defaults_and_values),
	    cmocka_unit_test(test_value_too_long), cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_line_too_long),  cmocka_unit_test(test_store_keys),
	    cmocka_unit_test(test_relay_routes),   cmocka_unit_test(test_format_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

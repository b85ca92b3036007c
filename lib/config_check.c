/* config_check.c: what a configuration's values name, checked before anything is
 * started (mssctl config check, and each daemon at start): a file that cannot be read
 * is named with the reason the system gives, rather than surfacing later as a
 * library's "system lib" or "PEM lib". */
#include "lib/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/master.h"
#include "lib/str.h"

struct file_key {
	const char *name;
	size_t offset;
};

#define FILE_KEY(name)                                                                                       \
	{                                                                                                    \
#name, offsetof(struct mss_config, name)                                                     \
	}

/* Files the daemons read (as root, before dropping privileges). */
static const struct file_key file_keys[] = {
    FILE_KEY(tls_cert),      FILE_KEY(tls_key),         FILE_KEY(tls_ca),
    FILE_KEY(tls_crl),       FILE_KEY(oauth_jwks_file), FILE_KEY(vault_classes_file),
    FILE_KEY(spf_zone_file), FILE_KEY(relay_cert),      FILE_KEY(relay_key),
};

static void reportf(config_report_fn report, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reportf(config_report_fn report, void *arg, const char *fmt, ...)
{
	char msg[CONFIG_PATH_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof msg) /* a cut reason says so */
		memcpy(msg + sizeof msg - 4, "...", 4);
	report(arg, msg);
}

/* Opens the file as the daemon will: the reason is the one open(2) or fstat(2) give. */
static int check_readable(const char *key, const char *path, config_report_fn report, void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		reportf(report, arg, "%s %s: %s", key, path, strerror(errno));
		return 1;
	}
	struct stat sb;
	int bad = 0;
	if (fstat(fd, &sb) < 0) {
		reportf(report, arg, "%s %s: %s", key, path, strerror(errno));
		bad = 1;
	} else if (S_ISDIR(sb.st_mode)) {
		reportf(report, arg, "%s %s: is a directory, not a file", key, path);
		bad = 1;
	} else if (!S_ISREG(sb.st_mode)) {
		reportf(report, arg, "%s %s: not a regular file", key, path);
		bad = 1;
	} else if (sb.st_size == 0) {
		reportf(report, arg, "%s %s: file is empty", key, path);
		bad = 1;
	}
	close(fd);
	return bad;
}

static int check_executable(const char *key, const char *path, config_report_fn report, void *arg)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		reportf(report, arg, "%s %s: %s", key, path, strerror(errno));
		return 1;
	}
	if (!S_ISREG(sb.st_mode) || access(path, X_OK) < 0) {
		reportf(report, arg, "%s %s: not an executable file", key, path);
		return 1;
	}
	return 0;
}

int config_check_files(const struct mss_config *cfg, config_report_fn report, void *arg)
{
	int problems = 0;
	for (size_t i = 0; i < sizeof file_keys / sizeof file_keys[0]; i++) {
		const char *path = (const char *)cfg + file_keys[i].offset;
		if (path[0] != '\0')
			problems += check_readable(file_keys[i].name, path, report, arg);
	}
	if (cfg->notify_command[0] != '\0')
		problems += check_executable("notify_command", cfg->notify_command, report, arg);
	return problems;
}

/* The metrics process runs as the daemons' user (lib/metrics.h): a privileged port
 * would never bind. */
static int check_metrics_port(const struct mss_config *cfg, config_report_fn report, void *arg)
{
	char host[256], port[32];
	uint64_t n;
	if (cfg->metrics_listen[0] == '\0' ||
	    master_parse_addr(cfg->metrics_listen, host, sizeof host, port, sizeof port) < 0 ||
	    str_to_u64(port, 65535, &n) < 0 || n >= 1024)
		return 0;
	reportf(report, arg, "metrics_listen %s: port below 1024, which the daemons' user cannot bind",
	        cfg->metrics_listen);
	return 1;
}

int config_check_values(const struct mss_config *cfg, config_report_fn report, void *arg)
{
	int problems = 0;
	if (cfg->patient_domain[0] == '\0') {
		reportf(report, arg, "patient_domain is not set");
		problems++;
	} else if (str_list_contains(cfg->domains, cfg->patient_domain)) {
		reportf(report, arg,
		        "patient_domain %s is also in domains: patients and professionals live apart",
		        cfg->patient_domain);
		problems++;
	}
	if (cfg->domains[0] == '\0') {
		reportf(report, arg, "domains is not set (the professionals' and organisations' domains)");
		problems++;
	}
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		reportf(report, arg, "tls_cert and tls_key are required (every listener needs TLS)");
		problems++;
	}
	if (cfg->inactive_warning != 0 && cfg->inactive_delete != 0 &&
	    cfg->inactive_warning >= cfg->inactive_delete) {
		reportf(report, arg, "inactive_warning must be shorter than inactive_delete");
		problems++;
	}
	problems += check_metrics_port(cfg, report, arg);
	return problems;
}

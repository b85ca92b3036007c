/* config.c: the mss.conf parser. Every key is one row of config_keys below: adding a
 * key means adding a field to struct mss_config, a row here and an entry in
 * doc/mss.conf.5. */

#include "lib/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/master.h"
#include "lib/str.h"

enum key_type {
	KEY_STRING,   /* free text */
	KEY_PATH,     /* file or directory name */
	KEY_LISTEN,   /* host:port or empty */
	KEY_DOMAINS,  /* list of domain names */
	KEY_NETWORKS, /* list of CIDR networks */
	KEY_CODES,    /* list of short codes (digits/letters) */
	KEY_SIZE,     /* bytes, with optional K/M/G suffix */
	KEY_UINT,     /* plain number */
	KEY_SECONDS,  /* duration, with optional s/m/h/d suffix */
	KEY_BOOL,
	KEY_TIMEZONE, /* an IANA time zone name with a compiled file under the zoneinfo directory */
	KEY_STORE,    /* "" or a PostgreSQL connection URI */
	KEY_ROUTES,   /* list of DOMAIN=HOST:PORT */
};

struct config_key {
	const char *name;
	enum key_type type;
	size_t offset;
	size_t size;       /* for text types: field size */
	const char *dflt;  /* default, as it would be written in the file */
	uint64_t min, max; /* for numbers */
};

#define TEXT(name, type, dflt)                                                                               \
	{                                                                                                    \
#name, type, offsetof(struct mss_config, name), sizeof(((struct mss_config *)0)->name),      \
		    dflt, 0, 0                                                                               \
	}
#define NUM(name, type, dflt, min, max)                                                                      \
	{                                                                                                    \
#name, type, offsetof(struct mss_config, name), sizeof(((struct mss_config *)0)->name),      \
		    dflt, min, max                                                                           \
	}

static const struct config_key config_keys[] = {
    TEXT(hostname, KEY_STRING, ""),
    TEXT(data_dir, KEY_PATH, "/var/lib/mss"),
    TEXT(store, KEY_STORE, ""),
    TEXT(blob_dir, KEY_PATH, ""),
    TEXT(master_key_file, KEY_PATH, ""),
    NUM(store_timeout, KEY_SECONDS, "30", 1, 3600),
    NUM(store_inline_blob_max, KEY_SIZE, "64K", 0, 1ULL << 20),
    NUM(store_blob_sweep_age, KEY_SECONDS, "1d", 3600, 365 * 86400ULL),
    NUM(store_blob_sweep_interval, KEY_SECONDS, "1m", 0, 86400),
    NUM(store_blob_sweep_batch, KEY_UINT, "1000", 1, 1000000),
    TEXT(user, KEY_STRING, "mss"),
    TEXT(login_user, KEY_STRING, "nobody"),
    TEXT(login_root, KEY_PATH, ""),
    TEXT(domains, KEY_DOMAINS, ""),
    TEXT(patient_domain, KEY_STRING, ""),
    TEXT(smtp_listen, KEY_LISTEN, ""),
    TEXT(submission_listen, KEY_LISTEN, ""),
    TEXT(submissions_listen, KEY_LISTEN, ""),
    TEXT(imap_listen, KEY_LISTEN, ""),
    TEXT(imaps_listen, KEY_LISTEN, ""),
    TEXT(web_listen, KEY_LISTEN, ""),
    TEXT(tls_cert, KEY_PATH, ""),
    TEXT(tls_key, KEY_PATH, ""),
    TEXT(tls_ca, KEY_PATH, ""),
    TEXT(tls_crl, KEY_PATH, ""),
    NUM(max_message_size, KEY_SIZE, "25M", 1024, 1ULL << 31),
    NUM(quota_storage, KEY_SIZE, "2G", 0, 1ULL << 50),
    NUM(max_sessions, KEY_UINT, "200", 1, 100000),
    NUM(max_sessions_per_ip, KEY_UINT, "20", 1, 100000),
    TEXT(notify_command, KEY_PATH, ""),
    NUM(notify_timeout, KEY_SECONDS, "10", 1, 3600),
    NUM(notify_access_interval, KEY_SECONDS, "1d", 0, 365 * 86400ULL),
    TEXT(relay_networks, KEY_NETWORKS, ""),
    TEXT(spf_zone_file, KEY_PATH, ""),
    TEXT(pharmacy_professions, KEY_CODES, "21"),
    TEXT(vault_classes_file, KEY_PATH, ""),
    NUM(vault_max_documents, KEY_UINT, "64", 1, 1024),
    NUM(history_refusal_interval, KEY_SECONDS, "1h", 0, 365 * 86400ULL),
    NUM(max_mime_parts, KEY_UINT, "1024", 16, 100000),
    NUM(max_mime_depth, KEY_UINT, "16", 2, 64),
    TEXT(timezone, KEY_TIMEZONE, "Europe/Paris"),
    NUM(smtp_command_timeout, KEY_SECONDS, "5m", 1, 86400),
    NUM(smtp_data_timeout, KEY_SECONDS, "10m", 1, 86400),
    NUM(smtp_max_recipients, KEY_UINT, "100", 1, 10000),
    NUM(smtp_max_errors, KEY_UINT, "10", 1, 1000),
    NUM(smtp_max_line, KEY_UINT, "1000", 512, 65536),
    NUM(auth_max_failures, KEY_UINT, "5", 1, 1000),
    NUM(auth_account_max_failures, KEY_UINT, "10", 1, 1000),
    NUM(auth_failure_window, KEY_SECONDS, "10m", 1, 86400),
    NUM(auth_lockout, KEY_SECONDS, "15m", 1, 7 * 86400ULL),
    NUM(auth_failure_delay, KEY_UINT, "1000", 0, 60000),
    TEXT(oauth_issuer, KEY_STRING, ""),
    TEXT(oauth_audience, KEY_STRING, ""),
    TEXT(oauth_jwks_file, KEY_PATH, ""),
    TEXT(oauth_identity_claim, KEY_STRING, "preferred_username"),
    NUM(oauth_clock_skew, KEY_SECONDS, "60", 0, 3600),
    NUM(imap_idle_timeout, KEY_SECONDS, "30m", 60, 86400),
    NUM(imap_idle_release, KEY_SECONDS, "1", 1, 86400),
    NUM(imap_relay_batch, KEY_BOOL, "yes", 0, 1),
    NUM(imap_history_check, KEY_SECONDS, "30", 1, 3600),
    NUM(imap_notify_max_events, KEY_UINT, "1000", 1, 1000000),
    NUM(imap_notify_max_mailboxes, KEY_UINT, "1000", 1, 100000),
    NUM(imap_max_line, KEY_UINT, "65536", 1024, 1 << 24),
    NUM(imap_max_bad, KEY_UINT, "10", 1, 1000),
    NUM(tls_handshake_timeout, KEY_SECONDS, "30", 1, 3600),
    /* availability limits (issue 12) */
    NUM(smtp_max_sessions, KEY_UINT, "100", 1, 100000),
    NUM(submission_max_sessions, KEY_UINT, "100", 1, 100000),
    /* MX session processes reused for several connections (issue 15) */
    NUM(smtp_session_max_use, KEY_UINT, "100", 1, 100000),
    NUM(smtp_session_idle_time, KEY_SECONDS, "60", 1, 86400),
    NUM(smtp_relay_batch, KEY_BOOL, "yes", 0, 1),
    NUM(submission_idle_sessions, KEY_UINT, "32", 0, 10000),
    NUM(delivery_batch_max, KEY_UINT, "32", 0, 10000),
    NUM(smtp_tls_ticket_lifetime, KEY_SECONDS, "1h", 0, 86400),
    NUM(smtp_tls_session_cache, KEY_UINT, "1000", 0, 100000),
    NUM(imap_command_timeout, KEY_SECONDS, "2m", 1, 86400),
    NUM(imap_append_timeout, KEY_SECONDS, "10m", 1, 86400),
    NUM(imap_max_search_keys, KEY_UINT, "64", 1, 100000),
    NUM(imap_search_timeout, KEY_SECONDS, "10", 1, 3600),
    NUM(imap_urlauth_max_keys, KEY_UINT, "10000", 1, 10000000),
    NUM(imap_view_snapshot_min, KEY_UINT, "1000", 0, 100000000),
    NUM(imap_view_snapshot_delta, KEY_UINT, "500", 0, 100000000),
    NUM(imap_view_lookups, KEY_UINT, "16", 0, 100000000),
    NUM(imap_view_lookup_uids, KEY_UINT, "64", 1, 100000000),
    NUM(auth_hash_concurrency, KEY_UINT, "4", 1, 1024),
    NUM(auth_hash_wait, KEY_SECONDS, "10", 1, 3600),
    NUM(web_idle_timeout, KEY_SECONDS, "15m", 10, 86400),
    NUM(web_max_form, KEY_SIZE, "64K", 1024, 16ULL << 20),
    NUM(log_stderr, KEY_BOOL, "no", 0, 1),
    NUM(password_min_length, KEY_UINT, "12", 8, 1023),
    NUM(inactive_warning, KEY_SECONDS, "335d", 0, 3650 * 86400ULL),
    NUM(inactive_delete, KEY_SECONDS, "365d", 0, 3650 * 86400ULL),
    NUM(retention_interval, KEY_SECONDS, "1d", 1, 365 * 86400ULL),
    NUM(child_restart_max, KEY_SECONDS, "1m", 1, 3600),
    TEXT(metrics_listen, KEY_LISTEN, ""),
    TEXT(relay_routes, KEY_ROUTES, ""),
    TEXT(relay_cert, KEY_PATH, ""),
    TEXT(relay_key, KEY_PATH, ""),
    NUM(queue_retry, KEY_SECONDS, "1m", 1, 3600),
    NUM(queue_lifetime, KEY_SECONDS, "5d", 60, 60 * 86400ULL),
    NUM(queue_scan_interval, KEY_SECONDS, "1s", 1, 3600),
    NUM(relay_timeout, KEY_SECONDS, "5m", 1, 3600),
    NUM(relay_max_connections, KEY_UINT, "10", 1, RELAY_CONNECTIONS_MAX),
    NUM(relay_max_per_domain, KEY_UINT, "5", 1, RELAY_CONNECTIONS_MAX),
    NUM(relay_connection_reuse_time, KEY_SECONDS, "2s", 0, 3600),
    NUM(relay_connection_reuse_count, KEY_UINT, "100", 1, 100000),
};

#define NKEYS (sizeof config_keys / sizeof config_keys[0])

static const struct config_key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static int parse_scaled(const char *v, const char *suffixes, const uint64_t *scales, uint64_t *out)
{
	char digits[32];
	size_t n = strspn(v, "0123456789");
	if (n == 0 || n >= sizeof digits)
		return -1;
	memcpy(digits, v, n);
	digits[n] = '\0';
	uint64_t base;
	if (str_to_u64(digits, UINT64_MAX, &base) < 0)
		return -1;
	uint64_t scale = 1;
	if (v[n] != '\0') {
		const char *s = strchr(suffixes, v[n] | 0x20);
		if (s == NULL || v[n + 1] != '\0')
			return -1;
		scale = scales[s - suffixes];
	}
	if (base > UINT64_MAX / scale)
		return -1;
	*out = base * scale;
	return 0;
}

static int parse_number(const struct config_key *k, const char *v, uint64_t *out, char *err, size_t errlen)
{
	static const uint64_t size_scales[] = {1024, 1024 * 1024, 1024 * 1024 * 1024};
	static const uint64_t time_scales[] = {1, 60, 3600, 86400};
	int r;
	if (k->type == KEY_SIZE)
		r = parse_scaled(v, "kmg", size_scales, out);
	else if (k->type == KEY_SECONDS)
		r = parse_scaled(v, "smhd", time_scales, out);
	else
		r = str_to_u64(v, UINT64_MAX, out);
	if (r < 0) {
		str_error(err, errlen, "%s: \"%s\" is not a %s", k->name, v,
		          k->type == KEY_SIZE      ? "size (e.g. 25M)"
		          : k->type == KEY_SECONDS ? "duration (e.g. 30s, 5m)"
		                                   : "number");
		return -1;
	}
	if (*out < k->min || *out > k->max) {
		str_error(err, errlen, "%s: %s is out of range (%llu to %llu)", k->name, v,
		          (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	return 0;
}

static int parse_bool(const char *v, uint64_t *out)
{
	if (str_ieq(v, "yes") || str_ieq(v, "true") || str_ieq(v, "on") || strcmp(v, "1") == 0)
		*out = 1;
	else if (str_ieq(v, "no") || str_ieq(v, "false") || str_ieq(v, "off") || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static bool is_domain(const char *d, size_t n)
{
	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '-' || c == '.';
		if (!ok || (c == '.' && d[i + 1] == '.'))
			return false;
	}
	return true;
}

static bool is_network(const char *w, size_t n)
{
	char tmp[64];
	if (n >= sizeof tmp)
		return false;
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	char *slash = strchr(tmp, '/');
	uint64_t bits = 0;
	if (slash) {
		*slash = '\0';
		if (str_to_u64(slash + 1, 128, &bits) < 0)
			return false;
	}
	unsigned char addr[16];
	if (inet_pton(AF_INET, tmp, addr) == 1)
		return !slash || bits <= 32;
	return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* DOMAIN=HOST:PORT, HOST a name or an address ([v6] in brackets). */
static bool is_route(const char *w, size_t n)
{
	char tmp[320], host[256], port[32];
	uint64_t p;
	const char *eq = memchr(w, '=', n);
	if (eq == NULL || n >= sizeof tmp || !is_domain(w, (size_t)(eq - w)))
		return false;
	memcpy(tmp, eq + 1, n - (size_t)(eq - w) - 1);
	tmp[n - (size_t)(eq - w) - 1] = '\0';
	return master_parse_addr(tmp, host, sizeof host, port, sizeof port) == 0 && host[0] != '\0' &&
	       str_to_u64(port, 65535, &p) == 0 && p != 0;
}

static bool is_code(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((w[i] >= '0' && w[i] <= '9') || (w[i] >= 'A' && w[i] <= 'Z') ||
		      (w[i] >= 'a' && w[i] <= 'z')))
			return false;
	return n > 0 && n <= 16;
}

/* An IANA zone name ("Europe/Paris", "America/Cayenne", "UTC") whose compiled file
 * (TZif, RFC 8536) is in the zoneinfo directory. glibc silently falls back to UTC for
 * an unknown name, so it is checked here; ".." and absolute names never reach a path. */
static bool is_timezone(const char *v)
{
	char path[CONFIG_PATH_MAX], magic[4];
	const char *dir = getenv("TZDIR");
	if (v[0] == '\0' || v[0] == '/' || strstr(v, "..") ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789/_+-") != strlen(v))
		return false;
	if (str_format(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", v) != 0)
		return false;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false;
	bool ok = fread(magic, 1, sizeof magic, f) == sizeof magic && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* Checks each word of a comma/space separated list. */
static int check_list(const struct config_key *k, const char *v, char *err, size_t errlen)
{
	for (const char *p = v; *p;) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		if (n == 0)
			break;
		bool ok = k->type == KEY_DOMAINS    ? is_domain(p, n)
		          : k->type == KEY_NETWORKS ? is_network(p, n)
		          : k->type == KEY_ROUTES   ? is_route(p, n)
		                                    : is_code(p, n);
		if (!ok) {
			str_error(err, errlen, "%s: \"%.*s\" is not a valid %s", k->name,
			          (int)(n > 64 ? 64 : n), p,
			          k->type == KEY_DOMAINS    ? "domain"
			          : k->type == KEY_NETWORKS ? "network (e.g. 192.0.2.0/24)"
			          : k->type == KEY_ROUTES   ? "route (e.g. example.org=192.0.2.1:25)"
			                                    : "code");
			return -1;
		}
		p += n;
	}
	return 0;
}

static int check_text(const struct config_key *k, const char *v, char *err, size_t errlen)
{
	if (strlen(v) >= k->size) {
		str_error(err, errlen, "%s: value is too long (at most %zu characters)", k->name,
		          k->size - 1);
		return -1;
	}
	if (k->type == KEY_LISTEN && v[0] != '\0') {
		char host[256], port[32];
		uint64_t p;
		if (master_parse_addr(v, host, sizeof host, port, sizeof port) < 0 ||
		    str_to_u64(port, 65535, &p) < 0 || p == 0) {
			str_error(err, errlen, "%s: \"%s\" is not host:port (e.g. 127.0.0.1:25)", k->name, v);
			return -1;
		}
	}
	if (k->type == KEY_DOMAINS || k->type == KEY_NETWORKS || k->type == KEY_CODES ||
	    k->type == KEY_ROUTES)
		return check_list(k, v, err, errlen);
	if (k->type == KEY_STORE && v[0] != '\0' && strncmp(v, "postgresql://", 13) != 0 &&
	    strncmp(v, "postgres://", 11) != 0) {
		/* the value may hold a password: never repeat it */
		str_error(err, errlen,
		          "%s: not a PostgreSQL URI (postgresql://...); leave it empty for SQLite", k->name);
		return -1;
	}
	if (k->type == KEY_TIMEZONE && !is_timezone(v)) {
		str_error(err, errlen, "%s: \"%s\" is not a time zone known here (e.g. Europe/Paris)",
		          k->name, v);
		return -1;
	}
	return 0;
}

static void store_number(struct mss_config *cfg, const struct config_key *k, uint64_t v)
{
	char *field = (char *)cfg + k->offset;
	if (k->size == sizeof(uint64_t))
		memcpy(field, &v, sizeof v);
	else if (k->size == sizeof(unsigned)) {
		unsigned u = (unsigned)v;
		memcpy(field, &u, sizeof u);
	}
}

int config_set(struct mss_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct config_key *k = find_key(key);
	if (k == NULL) {
		str_error(err, errlen, "unknown key \"%s\"", key);
		return -1;
	}
	if (k->type <= KEY_CODES || k->type == KEY_TIMEZONE || k->type == KEY_STORE ||
	    k->type == KEY_ROUTES) {
		if (check_text(k, value, err, errlen) < 0)
			return -1;
		str_assert(str_copy((char *)cfg + k->offset, k->size, value),
		           "check_text refused a value of k->size or more");
		return 0;
	}
	uint64_t v;
	if (k->type == KEY_BOOL) {
		if (parse_bool(value, &v) < 0) {
			str_error(err, errlen, "%s: \"%s\" is not yes or no", k->name, value);
			return -1;
		}
	} else if (parse_number(k, value, &v, err, errlen) < 0) {
		return -1;
	}
	store_number(cfg, k, v);
	return 0;
}

void config_defaults(struct mss_config *cfg)
{
	char err[256];
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NKEYS; i++)
		if (config_set(cfg, config_keys[i].name, config_keys[i].dflt, err, sizeof err) < 0)
			abort(); /* a default that does not parse is a bug in the table */
	if (gethostname(cfg->hostname, sizeof cfg->hostname) < 0 || cfg->hostname[0] == '\0')
		str_assert(str_copy(cfg->hostname, sizeof cfg->hostname, "localhost"),
		           "a constant shorter than CONFIG_STR_MAX");
	cfg->hostname[sizeof cfg->hostname - 1] = '\0';
}

/* Splits "key = value" (already trimmed, not a comment). */
static int split_line(char *line, char **key, char **value, char *err, size_t errlen)
{
	char *eq = strchr(line, '=');
	if (eq == NULL) {
		str_error(err, errlen, "expected \"key = value\"");
		return -1;
	}
	*eq = '\0';
	*key = str_trim(line);
	*value = str_trim(eq + 1);
	if (**key == '\0') {
		str_error(err, errlen, "missing key before \"=\"");
		return -1;
	}
	return 0;
}

/* One bit per key, to refuse a key given twice (a likely editing mistake). */
struct seen_keys {
	unsigned char seen[NKEYS];
};

static int load_line(struct mss_config *cfg, char *line, struct seen_keys *seen, char *why, size_t whylen)
{
	char *key, *value;
	str_trim(line);
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	if (split_line(line, &key, &value, why, whylen) < 0)
		return -1;
	const struct config_key *k = find_key(key);
	if (k != NULL && seen->seen[k - config_keys]++) {
		str_error(why, whylen, "key \"%s\" is given twice", key);
		return -1;
	}
	return config_set(cfg, key, value, why, whylen);
}

int config_load(struct mss_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		str_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (str_copy(cfg->path, sizeof cfg->path, path) < 0) {
		str_error(err, errlen, "%s: path too long (at most %zu characters)", path,
		          sizeof cfg->path - 1);
		fclose(f);
		return -1;
	}
	struct seen_keys seen;
	memset(&seen, 0, sizeof seen);
	char line[CONFIG_LIST_MAX + 256], why[512];
	unsigned lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			str_error(err, errlen, "%s:%u: line is too long", path, lineno);
			rc = -1;
			break;
		}
		if (load_line(cfg, line, &seen, why, sizeof why) < 0) {
			str_error(err, errlen, "%s:%u: %s", path, lineno, why);
			rc = -1;
			break;
		}
	}
	fclose(f);
	if (rc == 0 && cfg->data_dir[0] != '/') {
		str_error(err, errlen, "%s: data_dir must be an absolute path", path);
		rc = -1;
	}
	if (rc == 0 && ((cfg->blob_dir[0] != '\0' && cfg->blob_dir[0] != '/') ||
	                (cfg->master_key_file[0] != '\0' && cfg->master_key_file[0] != '/') ||
	                (cfg->login_root[0] != '\0' && cfg->login_root[0] != '/'))) {
		str_error(err, errlen, "%s: blob_dir, master_key_file and login_root must be absolute paths",
		          path);
		rc = -1;
	}
	return rc;
}

size_t config_key_count(void)
{
	return NKEYS;
}

const char *config_key_name(size_t i)
{
	return i < NKEYS ? config_keys[i].name : NULL;
}

/* The largest unit that divides v exactly, so that 25M and 1d read back as written. */
static int format_scaled(uint64_t v, const char *suffixes, const uint64_t *scales, size_t n, char *out,
                         size_t outlen)
{
	for (size_t i = n; i-- > 0;)
		if (v != 0 && scales[i] > 1 && v % scales[i] == 0)
			return str_format(out, outlen, "%llu%c", (unsigned long long)(v / scales[i]),
			                  suffixes[i]);
	return str_format(out, outlen, "%llu", (unsigned long long)v);
}

static uint64_t field_number(const struct mss_config *cfg, const struct config_key *k)
{
	const char *field = (const char *)cfg + k->offset;
	if (k->size == sizeof(uint64_t)) {
		uint64_t v;
		memcpy(&v, field, sizeof v);
		return v;
	}
	unsigned u;
	memcpy(&u, field, sizeof u);
	return u;
}

int config_key_format(const struct mss_config *cfg, size_t i, char *out, size_t outlen)
{
	static const uint64_t size_scales[] = {1, 1024, 1024 * 1024, 1024 * 1024 * 1024};
	static const uint64_t time_scales[] = {1, 60, 3600, 86400};
	if (i >= NKEYS)
		return -1;
	const struct config_key *k = &config_keys[i];
	if (k->type <= KEY_CODES || k->type == KEY_TIMEZONE || k->type == KEY_ROUTES)
		return str_copy(out, outlen, (const char *)cfg + k->offset);
	uint64_t v = field_number(cfg, k);
	if (k->type == KEY_BOOL)
		return str_copy(out, outlen, v ? "yes" : "no");
	if (k->type == KEY_SIZE)
		return format_scaled(v, " KMG", size_scales, 4, out, outlen);
	if (k->type == KEY_SECONDS)
		return format_scaled(v, "smhd", time_scales, 4, out, outlen);
	return str_format(out, outlen, "%llu", (unsigned long long)v);
}

int config_data_path(const struct mss_config *cfg, const char *name, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s/%s", cfg->data_dir, name);
}

int config_blob_dir(const struct mss_config *cfg, char *out, size_t outlen)
{
	if (cfg->blob_dir[0] != '\0')
		return str_copy(out, outlen, cfg->blob_dir);
	return config_data_path(cfg, "blobs", out, outlen);
}

int config_login_root(const struct mss_config *cfg, char *out, size_t outlen)
{
	if (cfg->login_root[0] != '\0')
		return str_copy(out, outlen, cfg->login_root);
	return config_data_path(cfg, "run/empty", out, outlen);
}

int config_master_key_file(const struct mss_config *cfg, char *out, size_t outlen)
{
	if (cfg->master_key_file[0] != '\0')
		return str_copy(out, outlen, cfg->master_key_file);
	return config_data_path(cfg, "keys/master.key", out, outlen);
}

int config_relay_route(const struct mss_config *cfg, const char *domain, char *host, size_t hostlen,
                       unsigned *port)
{
	size_t dlen = strlen(domain);
	for (const char *p = cfg->relay_routes; *p;) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		const char *eq = memchr(p, '=', n);
		if (n == 0)
			break;
		if (eq != NULL && (size_t)(eq - p) == dlen && strncasecmp(p, domain, dlen) == 0) {
			char addr[320], portstr[32];
			uint64_t v;
			size_t alen = n - dlen - 1;
			if (alen >= sizeof addr)
				return -1;
			memcpy(addr, eq + 1, alen);
			addr[alen] = '\0';
			if (master_parse_addr(addr, host, hostlen, portstr, sizeof portstr) < 0 ||
			    str_to_u64(portstr, 65535, &v) < 0)
				return -1;
			*port = (unsigned)v;
			return 1;
		}
		p += n;
	}
	return 0;
}

int config_is_local_domain(const struct mss_config *cfg, const char *domain)
{
	if (cfg->patient_domain[0] && str_ieq(domain, cfg->patient_domain))
		return 1;
	return str_list_contains(cfg->domains, domain);
}

/* Copies the field back from cur when next differs; notes that a restart is needed. */
#define KEEP(field)                                                                                          \
	do {                                                                                                 \
		if (memcmp(next->field, cur->field, sizeof next->field) != 0) {                              \
			memcpy(next->field, cur->field, sizeof next->field);                                 \
			*restart = 1;                                                                        \
		}                                                                                            \
	} while (0)

int config_reload(const struct mss_config *cur, struct mss_config *next, int *restart, char *err,
                  size_t errlen)
{
	*restart = 0;
	config_defaults(next);
	if (config_load(next, cur->path, err, errlen) < 0)
		return -1;
	KEEP(data_dir);
	KEEP(store);
	KEEP(blob_dir);
	KEEP(master_key_file);
	KEEP(user);
	KEEP(login_user);
	KEEP(login_root);
	KEEP(smtp_listen);
	KEEP(submission_listen);
	KEEP(submissions_listen);
	KEEP(imap_listen);
	KEEP(imaps_listen);
	KEEP(web_listen);
	KEEP(metrics_listen);
	next->log_stderr = cur->log_stderr;
	return 0;
}

/* config.h: the mss.conf parser (see doc/mss.conf.5).
 *
 * "key = value" lines, '#' comments, blank lines. Every key is a row of one table
 * (config.c) with its type, default and bounds; an unknown key, a repeated key or a
 * bad value is an error naming the file, the line and why. */
#ifndef MSS_CONFIG_H
#define MSS_CONFIG_H

#include <stdint.h>
#include <stddef.h>

#define CONFIG_PATH_MAX 1024
#define CONFIG_STR_MAX 256
#define CONFIG_LIST_MAX 4096

struct mss_config {
	char path[CONFIG_PATH_MAX];    /* the file it was read from */
	char hostname[CONFIG_STR_MAX]; /* name in greetings and Received:, default: gethostname */
	char data_dir[CONFIG_PATH_MAX];
	/* the database: "" = data_dir/mss.db (SQLite, one host), or a PostgreSQL
	 * connection URI "postgresql://..." shared by several hosts */
	char store[CONFIG_PATH_MAX];
	char blob_dir[CONFIG_PATH_MAX];        /* encrypted bodies; "" = data_dir/blobs */
	char master_key_file[CONFIG_PATH_MAX]; /* "" = data_dir/keys/master.key */
	unsigned store_timeout;                /* seconds one database call may take; default 30 */
	char user[CONFIG_STR_MAX];             /* unprivileged account after binding */
	char domains[CONFIG_LIST_MAX];         /* professionals' and organisations' domains */
	char patient_domain[CONFIG_STR_MAX];
	char smtp_listen[CONFIG_STR_MAX]; /* host:port, empty = disabled */
	char submission_listen[CONFIG_STR_MAX];
	char submissions_listen[CONFIG_STR_MAX];
	char imap_listen[CONFIG_STR_MAX];
	char imaps_listen[CONFIG_STR_MAX];
	char web_listen[CONFIG_STR_MAX]; /* mss-webd's HTTPS host:port, empty = disabled */
	char tls_cert[CONFIG_PATH_MAX];
	char tls_key[CONFIG_PATH_MAX];
	char tls_ca[CONFIG_PATH_MAX];
	char tls_crl[CONFIG_PATH_MAX];
	uint64_t max_message_size;    /* bytes; default 25 MiB */
	unsigned max_sessions;        /* per daemon; default 200 */
	unsigned max_sessions_per_ip; /* default 20 */
	char notify_command[CONFIG_PATH_MAX];
	unsigned notify_timeout;              /* seconds; default 10 */
	unsigned notify_access_interval;      /* seconds between two "vault opened" notices; default 86400 */
	char relay_networks[CONFIG_LIST_MAX]; /* CIDR list */
	char spf_zone_file[CONFIG_PATH_MAX];  /* SPF records "name TYPE value" instead of DNS ("" = DNS) */
	char pharmacy_professions[CONFIG_LIST_MAX]; /* default "21" */
	char vault_classes_file[CONFIG_PATH_MAX];   /* extra LOINC -> class rows */
	unsigned vault_max_documents;               /* documents one message may carry; default 64 */
	unsigned history_refusal_interval;   /* seconds between two refused-access entries of one reader in a
	                                        patient's history; default 3600 */
	unsigned max_mime_parts;             /* MIME parts a message may have; default 1024 */
	unsigned max_mime_depth;             /* MIME nesting; default 16 */
	char timezone[CONFIG_STR_MAX];       /* what patients read is in this zone; default Europe/Paris */
	unsigned smtp_command_timeout;       /* seconds; default 300 */
	unsigned smtp_data_timeout;          /* seconds; default 600 */
	unsigned smtp_max_recipients;        /* default 100 */
	unsigned smtp_max_errors;            /* default 10 */
	unsigned smtp_max_line;              /* default 1000 (RFC 5321 4.5.3.1.6 incl. CRLF) */
	unsigned auth_max_failures;          /* failures per client address; default 5 */
	unsigned auth_account_max_failures;  /* failures per account; default 10 */
	unsigned auth_failure_window;        /* seconds a failure counts; default 600 */
	unsigned auth_lockout;               /* seconds refused past a limit; default 900 */
	unsigned auth_failure_delay;         /* milliseconds per recent failure; default 1000 */
	char oauth_issuer[CONFIG_STR_MAX];   /* "iss" of accepted tokens */
	char oauth_audience[CONFIG_STR_MAX]; /* must be in "aud" */
	char oauth_jwks_file[CONFIG_PATH_MAX];     /* JWK Set; "" = no XOAUTH2/OAUTHBEARER */
	char oauth_identity_claim[CONFIG_STR_MAX]; /* default preferred_username */
	unsigned oauth_clock_skew;                 /* seconds; default 60 */
	unsigned imap_idle_timeout;                /* seconds; default 1800 (RFC 9051 5.4) */
	unsigned imap_max_line;                    /* default 65536 */
	unsigned imap_max_bad;                     /* consecutive BAD before BYE; default 10 */
	unsigned tls_handshake_timeout;            /* seconds; default 30 */
	unsigned web_idle_timeout;                 /* seconds a web session lives unused; default 900 */
	unsigned web_max_form;                     /* bytes of one form sent to mss-webd; default 64 KiB */
	int log_stderr;                            /* 1 = log to stderr (also set by -d) */
};

/* Sets every key to its default. */
void config_defaults(struct mss_config *cfg);
/* Reads path over the defaults. Returns 0, or -1 with err = "FILE:LINE: why". */
int config_load(struct mss_config *cfg, const char *path, char *err, size_t errlen);
/* Parses one "key = value" line (already without newline) into cfg; used by
 * config_load and the tests. Returns 0 or -1 with err = why (no file:line). */
int config_set(struct mss_config *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Builds data_dir/name into out. Returns 0 or -1 if it does not fit. */
int config_data_path(const struct mss_config *cfg, const char *name, char *out, size_t outlen);
/* The effective blob_dir and master key file (their defaults under data_dir). */
int config_blob_dir(const struct mss_config *cfg, char *out, size_t outlen);
int config_master_key_file(const struct mss_config *cfg, char *out, size_t outlen);
/* True when domain (case-insensitive) is one served here: patient_domain or in domains. */
int config_is_local_domain(const struct mss_config *cfg, const char *domain);

#endif

/* config.h: the mss.conf parser (see doc/mss.conf.5).
 *
 * "key = value" lines, '#' comments, blank lines. Every key is a row of one table
 * (config.c) with its type, default and bounds; an unknown key, a repeated key or a
 * bad value is an error naming the file, the line and why. */
#ifndef MSS_CONFIG_H
#define MSS_CONFIG_H

#include <stdint.h>
#include <stddef.h>

#include "lib/check.h"
#include "lib/mss_limits.h"

#define CONFIG_PATH_MAX MSS_CONFIG_PATH_SIZE
#define CONFIG_STR_MAX MSS_CONFIG_STRING_SIZE
#define CONFIG_LIST_MAX MSS_CONFIG_LIST_SIZE
/* relay_max_connections' ceiling: each one is a process and a key agent channel */
#define RELAY_CONNECTIONS_MAX 100

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
	/* a blob this small (encrypted) is kept in its database row, not a file; 0 = files
	 * only; default 64K */
	uint64_t store_inline_blob_max;
	/* a blob file no row names is removed by the blob sweep once this old
	 * (store_blob_sweep_pass); seconds, default 1d */
	unsigned store_blob_sweep_age;
	/* seconds between two passes of mss-smtpd's blob sweep (the committer's on SQLite,
	 * else the queue process's); 0 = none (mssctl store sweep only); default 1m */
	unsigned store_blob_sweep_interval;
	/* file names one such pass looks at, at most (a row lookup each); default 1000 */
	unsigned store_blob_sweep_batch;
	char user[CONFIG_STR_MAX]; /* unprivileged account after binding */
	/* the code before login (issue 12): runs as login_user, chrooted to login_root
	 * ("" = data_dir/run/empty), an empty root-owned directory */
	char login_user[CONFIG_STR_MAX];
	char login_root[CONFIG_PATH_MAX];
	char domains[CONFIG_LIST_MAX]; /* professionals' and organisations' domains */
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
	uint64_t max_message_size; /* bytes; default 25 MiB */
	uint64_t quota_storage;    /* bytes an account's messages may take (QUOTA); 0 = none; default 2 GiB */
	unsigned max_sessions;     /* per daemon; default 200 */
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
	unsigned imap_idle_release;                /* seconds; caches go after that idle; 1 */
	int imap_relay_batch;                      /* 1 = the relay runs SCHED_BATCH; default yes */
	unsigned imap_history_check;               /* seconds; IDLE on Historique rechecks this often */
	unsigned imap_notify_max_events;           /* NOTIFY: notifications queued at once (RFC 5465 5.8) */
	unsigned imap_notify_max_mailboxes;        /* NOTIFY: mailboxes one session watches */
	unsigned imap_max_line;                    /* default 65536 */
	unsigned imap_max_bad;                     /* consecutive BAD before BYE; default 10 */
	unsigned tls_handshake_timeout;            /* seconds; default 30 */
	/* availability limits (issue 12) */
	unsigned smtp_max_sessions;        /* sessions on the MX listener; default 100 */
	unsigned submission_max_sessions;  /* sessions on submission + submissions; default 100 */
	unsigned smtp_session_max_use;     /* MX connections per session process (pair); 100 */
	unsigned smtp_session_idle_time;   /* seconds a reused MX process waits for the next; 60 */
	int smtp_relay_batch;              /* 1 = the relay and its session process run SCHED_BATCH; yes */
	unsigned submission_idle_sessions; /* idle submission session processes, each for one account; 32 */
	unsigned delivery_batch_max;       /* MX deliveries per committer transaction; 0/1 none; 32 */
	unsigned smtp_tls_ticket_lifetime; /* seconds a TLS session ticket resumes; 0 none; 1h */
	unsigned smtp_tls_session_cache;   /* TLS sessions kept for resumption (OpenSSL); 1000 */
	unsigned imap_command_timeout;     /* seconds to receive one command, from its first byte; 2m */
	unsigned imap_append_timeout;      /* seconds to receive an APPEND's message; default 10m */
	unsigned imap_max_search_keys;     /* search keys in one SEARCH; default 64 */
	unsigned imap_search_timeout;      /* seconds one SEARCH may run before NO [LIMIT]; 10 */
	unsigned imap_urlauth_max_keys;    /* URLs one account signed that other accounts can fetch; 10000 */
	unsigned imap_view_snapshot_min;   /* messages from which a mailbox's view snapshot is kept; 1000 */
	unsigned imap_view_snapshot_delta; /* rows changed since it beyond which it is written afresh; 500 */
	unsigned imap_view_lookups; /* UID FETCHes answered from the snapshot before the view is read; 16 */
	unsigned imap_view_lookup_uids;      /* UIDs one of them may span; 64 */
	unsigned auth_hash_concurrency;      /* password hashes computed at once per daemon; default 4 */
	unsigned auth_hash_wait;             /* seconds a login waits for a hashing slot; default 10 */
	unsigned web_idle_timeout;           /* seconds a web session lives unused; default 900 */
	unsigned web_max_form;               /* bytes of one form sent to mss-webd; default 64 KiB */
	char metrics_listen[CONFIG_STR_MAX]; /* host:port of the OpenMetrics text, "" = none */
	int log_stderr;                      /* 1 = log to stderr (also set by -d) */
	unsigned password_min_length;        /* characters of a new password; default 12 */
	uint64_t inactive_warning;           /* seconds idle before the retention warning; default 335d */
	uint64_t inactive_delete;            /* seconds idle before deletion; default 365d; 0 = never */
	unsigned child_restart_max;          /* seconds: the longest pause before a helper that
	                                        keeps ending is started again (lib/keeper.h); 60 */
	unsigned retention_interval;         /* seconds between two retention runs of a daemon; default 1d */
	/* relay out to the trust space (DESIGN.md "Relay out to the trust space") */
	char relay_routes[CONFIG_LIST_MAX];   /* "DOMAIN=HOST:PORT, ..." used instead of DNS; "" = DNS */
	char relay_cert[CONFIG_PATH_MAX];     /* client certificate for relaying; "" = tls_cert */
	char relay_key[CONFIG_PATH_MAX];      /* its key; "" = tls_key */
	unsigned queue_retry;                 /* seconds before the first retry, doubled to 1 h; default 1m */
	unsigned queue_lifetime;              /* seconds a message may wait in the queue; default 5d */
	unsigned queue_scan_interval;         /* seconds between two looks for due recipients; default 1s */
	unsigned relay_timeout;               /* seconds per stage of a relay attempt; default 5m */
	unsigned relay_max_connections;       /* delivery workers (connections) at once; default 10 */
	unsigned relay_max_per_domain;        /* of them, to one destination domain; default 5 */
	unsigned relay_connection_reuse_time; /* seconds an idle worker keeps its connection; 2s, 0 = off */
	unsigned relay_connection_reuse_count; /* messages over one kept connection at most; default 100 */
};

/* Sets every key to its default. */
void config_defaults(struct mss_config *cfg);
/* Reads path over the defaults. Returns 0, or -1 with err = "FILE:LINE: why". */
int config_load(struct mss_config *cfg, const char *path, char *err, size_t errlen);
/* SIGHUP: reads cur->path over the defaults into next. What only a restart can change
 * (data_dir, store, blob_dir, master_key_file, user, the *_listen addresses (web and metrics too),
 * log_stderr) keeps cur's value, and
 * *restart is set when the file asked for another. Returns 0, or -1 with err
 * ("FILE:LINE: why"); next is then unusable and cur stays in force. */
int config_reload(const struct mss_config *cur, struct mss_config *next, int *restart, char *err,
                  size_t errlen);
/* Parses one "key = value" line (already without newline) into cfg; used by
 * config_load and the tests. Returns 0 or -1 with err = why (no file:line). */
int config_set(struct mss_config *cfg, const char *key, const char *value, char *err, size_t errlen);
/* The key table, for mssctl config show: key i's name (NULL past the end), and its
 * value in cfg written as the file would hold it (sizes and durations in the largest
 * exact unit: 25M, 1d). Returns 0, or -1 when out is too small or i is out of range. */
size_t config_key_count(void);
const char *config_key_name(size_t i);
int config_key_format(const struct mss_config *cfg, size_t i, char *out, size_t outlen);
/* relay_routes' next hop for domain (case-insensitive): host and port filled, returns
 * 1; 0 when the domain has no route; -1 when host does not fit. */
int config_relay_route(const struct mss_config *cfg, const char *domain, char *host, size_t hostlen,
                       unsigned *port);
/* Builds data_dir/name into out. Returns 0 or -1 if it does not fit. */
int config_data_path(const struct mss_config *cfg, const char *name, char *out, size_t outlen);
/* The effective blob_dir and master key file (their defaults under data_dir). */
int config_blob_dir(const struct mss_config *cfg, char *out, size_t outlen);
/* The pre-login processes' root: login_root, or data_dir/run/empty. Returns 0 or -1. */
MSS_MUST_CHECK int config_login_root(const struct mss_config *cfg, char *out, size_t outlen);
int config_master_key_file(const struct mss_config *cfg, char *out, size_t outlen);
/* config_check.c: checks beyond the syntax, each problem given to report as one line
 * naming the key, the file and why ("tls_key /etc/mss/key.pem: Permission denied").
 * config_check_files opens every configured file as the daemons will (with the
 * caller's privileges: the daemons read them before dropping theirs) and requires
 * notify_command to be executable; config_check_values checks that the values agree
 * (patient_domain set and not in domains, domains set, tls_cert and tls_key set,
 * inactive_warning before inactive_delete). Each returns the number of
 * problems. */
typedef void (*config_report_fn)(void *arg, const char *why);
int config_check_files(const struct mss_config *cfg, config_report_fn report, void *arg);
int config_check_values(const struct mss_config *cfg, config_report_fn report, void *arg);
/* True when domain (case-insensitive) is one served here: patient_domain or in domains. */
int config_is_local_domain(const struct mss_config *cfg, const char *domain);

#endif

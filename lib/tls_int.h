/* tls_int.h: what the TLS backends (tls_openssl*.c, tls_gnutls*.c) share. Not an
 * interface for the rest of MSS: callers use lib/tls.h only.
 *
 * - Files are read whole into memory by tls_file_read, so every error names the file
 *   and the system's reason ("No such file or directory", "Is a directory") rather
 *   than a library's "system lib" or "PEM lib", and the state of the file (inode,
 *   size, mtime) that was read is known exactly (fstat of the opened descriptor).
 * - The CRL watch implements the reload rules once for both backends (issue 10,
 *   Référentiel CONF.22): re-read when the file changes, checked at most once a
 *   second before a handshake, and on an explicit call; a new CRL that does not
 *   load is ignored with one log line and the one in force stays; past its
 *   nextUpdate the CRL in force keeps being used with a rate-limited warning. */
#ifndef MSS_TLS_INT_H
#define MSS_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/mss_limits.h"
#include "lib/buf.h"

/* Largest files read: a national CRL can hold hundreds of thousands of entries. */
#define TLS_CERT_MAX_BYTES MSS_TLS_CERT_FILE_MAX
#define TLS_CA_MAX_BYTES MSS_TLS_CA_FILE_MAX
#define TLS_CRL_MAX_BYTES MSS_TLS_CRL_FILE_MAX
#define TLS_VERIFY_DEPTH 5
/* How long a handshake waits for the key agent's signature. */
#define TLS_AGENT_TIMEOUT_MS 10000
/* Seconds between two "CRL past its nextUpdate" warnings (across all processes). */
#define TLS_CRL_WARN_INTERVAL 3600

/* The state of a file as read: two stamps differ when the file was replaced or
 * rewritten. */
struct tls_stamp {
	bool valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* Reads path whole into out (reset first, limit max bytes) and stamps it. what names
 * the file's role in errors ("certificate file", "CRL file"). Returns 0, or -1 with
 * err = "cannot read WHAT PATH: REASON". */
int tls_file_read(const char *path, const char *what, size_t max, struct buf *out, struct tls_stamp *st,
                  char *err, size_t errlen);
/* tls_ctx_reload with a new set of files, the same on both backends: names points at
 * the context's four names (certificate, key, CA, CRL). tls_names_swap puts copies of
 * files' names in their place and keeps the previous ones in old; tls_names_settle
 * then frees the previous ones (ok) or puts them back and frees the copies (the
 * reload failed). files NULL: neither does anything. */
struct tls_files;
void tls_names_swap(char **names[4], const struct tls_files *files, char *old[4]);
void tls_names_settle(char **names[4], const struct tls_files *files, char *old[4], bool ok);
/* Wipes then frees a buf that held a private key. */
void tls_secret_free(struct buf *b);
bool tls_stamp_eq(const struct tls_stamp *a, const struct tls_stamp *b);
/* Stamps path without reading it; returns 0 or -1 (missing, unreadable). */
int tls_stamp_path(const char *path, struct tls_stamp *st);
/* Formats an error message into err; a message that does not fit ends with "...".
 * Returns -1, so that "return tls_errf(...)" reports the failure. */
int tls_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Shared by the master and every session forked from it (MAP_SHARED), so that a
 * warning or a refused file is logged once, not once per session. */
struct tls_shared {
	uint64_t logged_stamp;   /* hash of the CRL file state last logged (loaded or refused) */
	int64_t last_stale_warn; /* time() of the last "past nextUpdate" warning */
};

/* Parses and verifies a CRL file's content and, on success, puts it in force in the
 * backend's context. *next_update: the earliest nextUpdate among its CRLs (0 when
 * none has one). Returns 0, -1 refused for good (err), -2 refused for now (a CRL not
 * yet valid: retried at the next check even if the file does not change). */
typedef int (*tls_crl_install_fn)(void *backend, const char *path, const struct buf *data,
                                  time_t *next_update, char *err, size_t errlen);

struct tls_crl_watch {
	char *path;                /* NULL: no CRL configured */
	struct tls_stamp in_force; /* file state of the CRL in force */
	struct tls_stamp refused;  /* file state last refused for good: not retried */
	long last_check_ms;        /* CLOCK_MONOTONIC of the last stat */
	time_t next_update;        /* of the CRL in force, 0 = none */
	struct tls_shared *shared; /* never NULL once initialised */
	tls_crl_install_fn install;
	void *backend;
};

/* Sets up w for path ("" or NULL: no CRL) and loads it now. Returns 0, or -1 with err
 * (the file is missing, unreadable, or refused: a daemon does not start on a CRL it
 * cannot use). Logs a warning when it is already past its nextUpdate. */
int tls_crl_watch_init(struct tls_crl_watch *w, const char *path, tls_crl_install_fn install, void *backend,
                       char *err, size_t errlen);
/* Before a handshake: at most once a second, stats the file and re-reads it when it
 * changed; warns (rate-limited) while the CRL in force is past its nextUpdate. */
void tls_crl_watch_check(struct tls_crl_watch *w);
/* Checks now (whatever the last check's time) and stops watching (tls_ctx_settle_crl). */
void tls_crl_watch_settle(struct tls_crl_watch *w);
/* Re-reads the file now. Returns 1 a new CRL is in force, 0 no CRL configured, -1
 * refused (the previous one stays; err says which file and why; also logged). */
int tls_crl_watch_reload(struct tls_crl_watch *w, char *err, size_t errlen);
/* Moves the CRL state of from into to (a full context reload), freeing to's. */
void tls_crl_watch_take(struct tls_crl_watch *to, struct tls_crl_watch *from);
void tls_crl_watch_free(struct tls_crl_watch *w);

/* Time left before deadline_ms (CLOCK_MONOTONIC), for poll. */
long tls_now_ms(void);
/* Waits for fd to be ready for events until deadline_ms. Returns 1, 0 on timeout, -1
 * on error. */
int tls_wait_fd(int fd, short events, long deadline_ms);
/* "2021-01-01T00:00:00Z" */
void tls_format_time(time_t t, char *out, size_t outlen);

#endif

/* log.h: one line per event, as key=value fields.
 *
 * Never pass a secret (password, key, token) or health content (message text,
 * subject, document name) to these functions: log what happened, to whom, and the
 * result. Values with spaces or quotes are quoted by log_kv. */
#ifndef MSS_LOG_H
#define MSS_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

/* ident: program name; to_stderr: 1 for stderr, 0 for syslog (mail facility). When
 * /dev/log cannot be written, says so on stderr and logs there instead. */
void log_open(const char *ident, int to_stderr);
/* Logs one event: fmt is a printf format producing "key=value key=value" text. */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_info(ev, ...) log_event(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_err(ev, ...) log_event(LOG_LVL_ERR, ev, __VA_ARGS__)
/* Makes every later line of this process carry session=ID right after event= (the
 * session process of mss-imapd: each IMAP line then names its session, as mss-smtpd's
 * lines do by hand). id is copied; NULL or "" stops it. */
void log_set_session(const char *id);
/* Writes a new random session id (8 hex digits, as mss-smtpd's) into out. */
#define LOG_SESSION_ID_SIZE 16
void log_new_session_id(char out[LOG_SESSION_ID_SIZE]);
/* Writes v into out as a log-safe value: controls replaced, quoted when it has spaces,
 * cut at outlen. Returns out. */
const char *log_quote(char *out, unsigned outlen, const char *v);
/* Logs and exits(1): for a broken environment only (cannot bind, cannot open the db). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

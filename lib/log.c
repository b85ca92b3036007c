/* log.c: one line per event, key=value (see log.h). */

#include "lib/log.h"

#include "lib/str.h"

#include <errno.h>
#include <paths.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "mss";
static int log_to_stderr = 1;
static char log_session[LOG_SESSION_ID_SIZE + sizeof " session="];
/* The pid and the second's timestamp of the last line, kept per process: getpid(2) is a
 * system call each time (glibc caches nothing since 2.25) and an MX message logs three
 * lines. The pid is read again in every child fork(2) makes (pthread_atfork). */
static long log_pid;
static time_t log_when_sec = -1;
static char log_when[32];

static void log_forked(void)
{
	log_pid = (long)getpid();
}

static long pid_of_process(void)
{
	static int registered;

	if (!registered) {
		registered = pthread_atfork(NULL, NULL, log_forked) == 0;
		log_pid = (long)getpid();
	}
	return registered ? log_pid : (long)getpid();
}

static const char *when_now(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != log_when_sec) {
		if (strftime(log_when, sizeof log_when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm)) == 0)
			log_when[0] = '\0';
		log_when_sec = now;
	}
	return log_when;
}

/* One write(2) per line, as the unbuffered stderr stream made it, without stdio's
 * formatting into a second buffer; a line cut at the buffer still ends with its newline. */
static void write_line(char *line, size_t cap, int n)
{
	size_t len = n < 0 ? 0 : (size_t)n;

	if (len >= cap) {
		len = cap - 1;
		line[len - 1] = '\n';
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

void log_set_session(const char *id)
{
	log_session[0] = '\0';
	if (id != NULL && id[0] != '\0' &&
	    snprintf(log_session, sizeof log_session, " session=%s", id) >= (int)sizeof log_session)
		log_session[0] = '\0'; /* ids are ours (log_new_session_id): never longer */
}

void log_new_session_id(char out[LOG_SESSION_ID_SIZE])
{
	unsigned char r[4];

	randombytes_buf(r, sizeof(r));
	str_hex(out, r, sizeof(r));
}

void log_open(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_to_stderr = to_stderr;
	/* syslog(3) drops every line silently when nothing listens on /dev/log (a
	 * container, a chroot, no syslog daemon): say so, and log to stderr instead. */
	if (!to_stderr && access(_PATH_LOG, W_OK) != 0) {
		fprintf(stderr, "%s: %s: %s: no syslog daemon? logging to standard error\n", ident, _PATH_LOG,
		        strerror(errno));
		log_to_stderr = 1;
	}
	if (!log_to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static int syslog_priority(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_DEBUG:
		return LOG_DEBUG;
	case LOG_LVL_INFO:
		return LOG_INFO;
	case LOG_LVL_WARN:
		return LOG_WARNING;
	default:
		return LOG_ERR;
	}
}

static const char *level_name(enum log_level lvl)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	return names[lvl <= LOG_LVL_ERR ? lvl : LOG_LVL_ERR];
}

/* Replaces CR, LF and other controls so that one event can never forge another line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

__attribute__((format(printf, 3, 0))) static void log_vevent(enum log_level lvl, const char *event,
                                                             const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	sanitize(msg);
	if (!log_to_stderr) {
		syslog(syslog_priority(lvl), "event=%s%s %s", event, log_session, msg);
		return;
	}
	char line[sizeof msg + 256];
	int saved = errno;
	int n = snprintf(line, sizeof line, "%s %s[%ld] level=%s event=%s%s %s\n", when_now(), log_ident,
	                 pid_of_process(), level_name(lvl), event, log_session, msg);
	write_line(line, sizeof line, n);
	errno = saved;
}

void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vevent(lvl, event, fmt, ap);
	va_end(ap);
}

const char *log_quote(char *out, unsigned outlen, const char *v)
{
	if (outlen < 3) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	int quote = v[0] == '\0' || strpbrk(v, " \t\"=") != NULL;
	unsigned o = 0;
	if (quote)
		out[o++] = '"';
	for (; *v && o + 2 < outlen; v++) {
		unsigned char c = (unsigned char)*v;
		out[o++] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
	}
	if (quote)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

void fatal(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(LOG_LVL_ERR, "fatal", "reason=\"%s\"", msg);
	if (!log_to_stderr)
		fprintf(stderr, "%s: %s\n", log_ident, msg);
	exit(1);
}

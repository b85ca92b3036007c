/* smtp-gen: bench/smtp's C load generator for SMTP submission with SASL EXTERNAL.
 *
 * Postfix's smtp-source cannot authenticate (it has no AUTH command at all), so the
 * submission rows of bench/smtp use this instead. It speaks plain SMTP to HOST:PORT,
 * which is a client-mode stunnel (protocol = smtp) that has already done EHLO,
 * STARTTLS and presented the professional's certificate: the greeting it reads is the
 * server's, forwarded by stunnel, and everything after runs inside TLS. Per message:
 * [greeting, EHLO, AUTH EXTERNAL =,] MAIL, RCPT, DATA, the message, the final dot;
 * -d keeps each session's connection for its next message, otherwise every message
 * has its own connection (a new TLS handshake at the stunnel) ending with QUIT.
 *
 * One thread per session, blocking sockets with a receive and send timeout (-w), a
 * deadline for the whole run (-x), and a session gives up after 10 failures in a row:
 * every loop is bounded. Prints one line of key=value figures on stdout (messages
 * accepted, errors, seconds, messages/s, latency from MAIL to the 250 after the dot:
 * p50, p99, max) and the first errors on stderr. Exit status 0 when every message was
 * accepted, 1 otherwise, 2 on a usage error.
 *
 * Usage: smtp-gen [-a] [-d] [-s SESSIONS] [-m MESSAGES] [-l BYTES] [-w SECONDS]
 *                 [-x SECONDS] [-M HELO] -f FROM -t TO HOST:PORT
 * Built by bench/benchlib/smtp_gen.py (cc -O2 -pthread), not by make: a bench tool. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 1000
#define MAX_MESSAGES 10000000
#define MAX_SIZE (64 * 1024 * 1024)
#define LINE_MAX_LEN 1000   /* RFC 5321 4.5.3.1.5: a reply line is at most 512 */
#define REPLY_MAX_LINES 100 /* a longer multiline reply is a broken server */
#define FAILURES_IN_A_ROW 10
#define FIRST_ERRORS 5

struct options {
	int sessions, messages, size, persistent, auth_external, io_timeout, max_seconds;
	const char *from, *to, *helo;
	struct sockaddr_in addr;
};

struct run {
	const struct options *opt;
	atomic_int next;     /* the next message number to claim */
	atomic_int accepted; /* 250 after the final dot */
	atomic_int errors;
	double *latency; /* seconds, indexed by message number; < 0: not accepted */
	double deadline;
	char *body; /* the message after its headers, CRLF lines, no line starting "." */
	size_t body_len;
	pthread_mutex_t lock; /* first_error, n_first */
	char first_error[FIRST_ERRORS][256];
	int n_first;
};

/* One connection's input: replies are read line by line from in[pos..len). */
struct conn {
	int fd;
	char in[4096];
	size_t pos, len;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record_error(struct run *r, const char *fmt, ...)
{
	atomic_fetch_add(&r->errors, 1);
	pthread_mutex_lock(&r->lock);
	if (r->n_first < FIRST_ERRORS) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->first_error[r->n_first], sizeof r->first_error[0], fmt, ap);
		va_end(ap);
		r->n_first++;
	}
	pthread_mutex_unlock(&r->lock);
}

static int conn_open(struct conn *c, const struct options *opt)
{
	struct timeval tv = {.tv_sec = opt->io_timeout};
	int one = 1;
	c->pos = c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* The timeouts bound every read and write: a silent server cannot hang a thread. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    connect(c->fd, (const struct sockaddr *)&opt->addr, sizeof opt->addr) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_all(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without CRLF) into line; -1 on EOF, timeout, error or a line longer
 * than LINE_MAX_LEN. */
static int read_line(struct conn *c, char *line, size_t cap)
{
	size_t used = 0;
	for (;;) {
		if (c->pos == c->len) {
			ssize_t n = recv(c->fd, c->in, sizeof c->in, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			c->pos = 0;
			c->len = (size_t)n;
		}
		char ch = c->in[c->pos++];
		if (ch == '\n')
			break;
		if (used + 1 >= cap)
			return -1;
		line[used++] = ch;
	}
	if (used > 0 && line[used - 1] == '\r')
		used--;
	line[used] = '\0';
	return 0;
}

/* Reads a whole (multiline) reply; returns its code, or -1. The last line stays in
 * text for error messages. */
static int read_reply(struct conn *c, char *text, size_t cap)
{
	for (int i = 0; i < REPLY_MAX_LINES; i++) {
		if (read_line(c, text, cap) < 0)
			return -1;
		if (strlen(text) < 3 || text[0] < '2' || text[0] > '5')
			return -1;
		if (text[3] != '-')
			return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
	}
	return -1;
}

/* Sends line (CRLF added) unless NULL, then expects a reply with code want. */
static int step(struct run *r, struct conn *c, const char *line, int want, const char *what)
{
	char out[LINE_MAX_LEN + 3], text[LINE_MAX_LEN + 1];
	if (line) {
		int n = snprintf(out, sizeof out, "%s\r\n", line);
		if (n < 0 || (size_t)n >= sizeof out || send_all(c, out, (size_t)n) < 0) {
			record_error(r, "%s: cannot send: %s", what, strerror(errno));
			return -1;
		}
	}
	text[0] = '\0';
	errno = 0;
	int code = read_reply(c, text, sizeof text);
	if (code == want)
		return 0;
	if (code < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		record_error(r, "%s: no reply within %d s (-w)", what, r->opt->io_timeout);
	else if (code < 0)
		record_error(r, "%s: no reply (%s)", what, errno ? strerror(errno) : "closed");
	else
		record_error(r, "%s: %s", what, text);
	return -1;
}

static int session_open(struct run *r, struct conn *c)
{
	const struct options *opt = r->opt;
	char line[LINE_MAX_LEN];
	if (conn_open(c, opt) < 0) {
		record_error(r, "connect: %s", strerror(errno));
		return -1;
	}
	snprintf(line, sizeof line, "EHLO %s", opt->helo);
	if (step(r, c, NULL, 220, "greeting") < 0 || step(r, c, line, 250, "EHLO") < 0 ||
	    (opt->auth_external && step(r, c, "AUTH EXTERNAL =", 235, "AUTH EXTERNAL") < 0)) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* One transaction; its latency (MAIL sent to the 250 after the dot) into r->latency. */
static int send_message(struct run *r, struct conn *c, int seq)
{
	const struct options *opt = r->opt;
	char line[LINE_MAX_LEN], head[2 * LINE_MAX_LEN];
	double t0 = now();
	snprintf(line, sizeof line, "MAIL FROM:<%s>", opt->from);
	if (step(r, c, line, 250, "MAIL") < 0)
		return -1;
	snprintf(line, sizeof line, "RCPT TO:<%s>", opt->to);
	if (step(r, c, line, 250, "RCPT") < 0 || step(r, c, "DATA", 354, "DATA") < 0)
		return -1;
	int n = snprintf(head, sizeof head,
	                 "From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\n"
	                 "Message-ID: <smtp-gen.%ld.%d@bench.test>\r\n"
	                 "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
	                 "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
	                 opt->from, opt->to, seq, (long)getpid(), seq);
	if (n < 0 || (size_t)n >= sizeof head || send_all(c, head, (size_t)n) < 0 ||
	    send_all(c, r->body, r->body_len) < 0) {
		record_error(r, "message: cannot send: %s", strerror(errno));
		return -1;
	}
	if (step(r, c, ".", 250, "end of data") < 0)
		return -1;
	r->latency[seq] = now() - t0;
	atomic_fetch_add(&r->accepted, 1);
	return 0;
}

static void *session(void *arg)
{
	struct run *r = arg;
	struct conn c = {.fd = -1};
	int failures = 0;
	for (;;) {
		int seq = atomic_fetch_add(&r->next, 1);
		if (seq >= r->opt->messages || now() > r->deadline || failures >= FAILURES_IN_A_ROW)
			break;
		if (c.fd < 0 && session_open(r, &c) < 0) {
			failures++;
			continue;
		}
		if (send_message(r, &c, seq) < 0) {
			failures++;
			conn_close(&c); /* the reply stream is out of step: start afresh */
			continue;
		}
		failures = 0;
		if (!r->opt->persistent) {
			(void)step(r, &c, "QUIT", 221, "QUIT");
			conn_close(&c);
		}
	}
	if (c.fd >= 0) {
		(void)step(r, &c, "QUIT", 221, "QUIT");
		conn_close(&c);
	}
	return NULL;
}

/* The body: size bytes less the headers' usual length, whole CRLF lines. */
static int make_body(struct run *r, int size)
{
	static const char text[] =
	    "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnop\r\n";
	size_t len = size > 300 ? (size_t)size - 300 : 2;
	size_t line = sizeof text - 1;
	len = (len + line - 1) / line * line;
	r->body = malloc(len + 1);
	if (!r->body)
		return -1;
	for (size_t off = 0; off < len; off += line)
		memcpy(r->body + off, text, line);
	r->body_len = len;
	return 0;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Linear interpolation between the closest ranks, as bench/benchlib/common.py does. */
static double percentile(const double *sorted, int n, double p)
{
	double k = (n - 1) * p / 100.0;
	int lo = (int)k, hi = lo + 1 < n ? lo + 1 : n - 1;
	return sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo);
}

static void report(struct run *r, double seconds)
{
	int n = 0, accepted = atomic_load(&r->accepted);
	for (int i = 0; i < r->opt->messages; i++)
		if (r->latency[i] >= 0)
			r->latency[n++] = r->latency[i];
	qsort(r->latency, (size_t)n, sizeof r->latency[0], compare_double);
	printf("accepted=%d errors=%d seconds=%.3f msgs_per_s=%.1f", accepted, atomic_load(&r->errors),
	       seconds, seconds > 0 ? accepted / seconds : 0.0);
	if (n > 0)
		printf(" p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", 1000 * percentile(r->latency, n, 50),
		       1000 * percentile(r->latency, n, 99), 1000 * r->latency[n - 1]);
	printf("\n");
	for (int i = 0; i < r->n_first; i++)
		fprintf(stderr, "smtp-gen: %s\n", r->first_error[i]);
}

static int number(const char *arg, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_target(const char *arg, struct sockaddr_in *addr)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	int port;
	if (!colon || (size_t)(colon - arg) >= sizeof host || number(colon + 1, 1, 65535, &port) < 0)
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

static int usage(const char *why)
{
	fprintf(stderr,
	        "smtp-gen: %s\nusage: smtp-gen [-a] [-d] [-s SESSIONS] [-m MESSAGES] [-l BYTES] "
	        "[-w SECONDS] [-x SECONDS] [-M HELO] -f FROM -t TO HOST:PORT (an IPv4 address)\n",
	        why);
	return 2;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	int ch, bad = 0;
	*opt = (struct options){.sessions = 20,
	                        .messages = 2000,
	                        .size = 4096,
	                        .io_timeout = 60,
	                        .max_seconds = 600,
	                        .helo = "client.bench.test"};
	while ((ch = getopt(argc, argv, "ads:m:l:w:x:M:f:t:")) != -1) {
		switch (ch) {
		case 'a':
			opt->auth_external = 1;
			break;
		case 'd':
			opt->persistent = 1;
			break;
		case 's':
			bad |= number(optarg, 1, MAX_SESSIONS, &opt->sessions);
			break;
		case 'm':
			bad |= number(optarg, 1, MAX_MESSAGES, &opt->messages);
			break;
		case 'l':
			bad |= number(optarg, 0, MAX_SIZE, &opt->size);
			break;
		case 'w':
			bad |= number(optarg, 1, 3600, &opt->io_timeout);
			break;
		case 'x':
			bad |= number(optarg, 1, 86400, &opt->max_seconds);
			break;
		case 'M':
			opt->helo = optarg;
			break;
		case 'f':
			opt->from = optarg;
			break;
		case 't':
			opt->to = optarg;
			break;
		default:
			return usage("unknown option");
		}
	}
	if (bad)
		return usage("a number is out of range");
	if (!opt->from || !opt->to || optind != argc - 1)
		return usage("-f, -t and HOST:PORT are required");
	if (strlen(opt->from) > 256 || strlen(opt->to) > 256 || strlen(opt->helo) > 256)
		return usage("an address or the HELO name is longer than 256 bytes");
	if (parse_target(argv[optind], &opt->addr) < 0)
		return usage("HOST:PORT is not an IPv4 address and a port");
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	static struct run r;
	pthread_t threads[MAX_SESSIONS];
	int rc = parse_options(argc, argv, &opt);
	if (rc != 0)
		return rc;
	r.opt = &opt;
	pthread_mutex_init(&r.lock, NULL);
	r.latency = malloc(sizeof r.latency[0] * (size_t)opt.messages);
	if (!r.latency || make_body(&r, opt.size) < 0) {
		fprintf(stderr, "smtp-gen: out of memory\n");
		return 1;
	}
	for (int i = 0; i < opt.messages; i++)
		r.latency[i] = -1;
	double t0 = now();
	r.deadline = t0 + opt.max_seconds;
	int started = 0, err = 0;
	for (; started < opt.sessions && err == 0; started++)
		err = pthread_create(&threads[started], NULL, session, &r);
	if (err != 0)
		started--;
	if (started == 0) {
		fprintf(stderr, "smtp-gen: cannot start a thread: %s\n", strerror(err));
		return 1;
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	report(&r, now() - t0);
	return atomic_load(&r.accepted) == opt.messages ? 0 : 1;
}

/* tls_test_server: a tiny TLS echo server over lib/tls.h, driven by
 * tests/integration/test_tls_lib.py with real clients (openssl s_client, gnutls-cli).
 *
 * usage: tls_test_server [-a] [-t] PORT CERT KEY CA CRL none|optional|require MAXCONN TIMEOUT_S
 *                        [HANDSHAKE_S]
 *   CA and CRL may be "-" for none; HANDSHAKE_S (default 10) bounds each handshake.
 *   -a: a key agent process holds KEY (this process never opens it) and the context
 *   signs through a channel to it. -t: session tickets (an hour), so clients may resume.
 *   Listens on 127.0.0.1:PORT, prints "listening", then for each connection one line:
 *     ok<TAB>sha256=..<TAB>email=..<TAB>subject=..<TAB>issuer=..<TAB>version=..<TAB>...
 *   or
 *     error<TAB><reason from tls_accept>
 *   and echoes back one line the client sends. Exits after MAXCONN connections or
 *   TIMEOUT_S seconds in all.
 *   Commands on stdin, each answered with one line on stdout:
 *     reload       tls_ctx_reload      -> "reload<TAB>ok" or "reload<TAB>error<TAB>why"
 *     reload-crl   tls_ctx_reload_crl  -> "reload-crl<TAB>RC<TAB>why"
 *     agent-pid    -> "agent-pid<TAB>PID" (0 without -a)
 *     agent-reload tls_agent_request_reload -> "agent-reload<TAB>RC<TAB>why"
 *   The library's log lines go to stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/str.h"
#include "lib/tls.h"
#include "tests/unit/tls_test_agent.h"

#define LINE_MAX_BYTES 4096

static time_t deadline;
static unsigned handshake_s = 10;
static pid_t agent_pid;
static int agent_ctl = -1;

static int listen_on(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int seconds_left(void)
{
	time_t left = deadline - time(NULL);

	return left > 0 ? (int)left : 0;
}

/* Reads one line (up to LF) from the session into line. Returns its length or -1. */
static ssize_t read_line(struct tls_sess *s, int fd, char *line, size_t max)
{
	size_t len = 0;

	while (len < max) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r = tls_read(s, line + len, 1);

		if (r > 0) {
			len++;
			if (line[len - 1] == '\n')
				return (ssize_t)len;
			continue;
		}
		if (r != -2)
			return len > 0 ? (ssize_t)len : -1;
		if (poll(&pfd, 1, seconds_left() * 1000) <= 0)
			return -1;
	}
	return (ssize_t)len;
}

static int write_all(struct tls_sess *s, int fd, const char *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT | POLLIN};
		ssize_t w = tls_write(s, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w != -2 || poll(&pfd, 1, seconds_left() * 1000) <= 0)
			return -1;
	}
	return 0;
}

/* Runs one stdin command; returns -1 at EOF of stdin. */
static int command(struct tls_ctx *ctx)
{
	char line[256], err[512] = "";
	int rc;

	if (!fgets(line, sizeof(line), stdin))
		return -1;
	line[strcspn(line, "\r\n")] = '\0';
	if (!strcmp(line, "reload")) {
		if (tls_ctx_reload(ctx, NULL, err, sizeof(err)) == 0)
			printf("reload\tok\n");
		else
			printf("reload\terror\t%s\n", err);
	} else if (!strcmp(line, "backend")) {
		printf("backend\t%s\n", tls_backend());
	} else if (!strcmp(line, "agent-pid")) {
		printf("agent-pid\t%ld\n", (long)agent_pid);
	} else if (!strcmp(line, "agent-reload")) {
		rc = tls_agent_request_reload(agent_ctl, err, sizeof(err));
		printf("agent-reload\t%d\t%s\n", rc, rc < 0 ? err : "");
	} else if (!strcmp(line, "reload-crl")) {
		rc = tls_ctx_reload_crl(ctx, err, sizeof(err));
		printf("reload-crl\t%d\t%s\n", rc, rc < 0 ? err : "");
	} else {
		printf("unknown-command\t%s\n", line);
	}
	return 0;
}

static void serve(struct tls_ctx *ctx, int fd)
{
	char err[256], line[LINE_MAX_BYTES];
	struct tls_peer peer;
	struct tls_sess *s;
	ssize_t n;

	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	s = tls_accept(ctx, fd, handshake_s, err, sizeof(err));
	if (!s) {
		printf("error\t%s\n", err);
		return;
	}
	tls_peer_info(s, &peer);
	printf("ok\tsha256=%s\temail=%s\tsubject=%s\tissuer=%s\tversion=%s\tcipher=%s\thas_cert=%d"
	       "\tresumed=%d\n",
	       peer.sha256, peer.email, peer.subject_dn, peer.issuer_dn, peer.version, peer.cipher,
	       peer.has_cert ? 1 : 0, peer.resumed ? 1 : 0);
	n = read_line(s, fd, line, sizeof(line));
	if (n > 0)
		(void)write_all(s, fd, line, (size_t)n);
	tls_sess_free(s);
}

static enum tls_client_cert parse_mode(const char *m)
{
	if (!strcmp(m, "require"))
		return TLS_CLIENT_CERT_REQUIRE;
	if (!strcmp(m, "optional"))
		return TLS_CLIENT_CERT_OPTIONAL;
	return TLS_CLIENT_CERT_NONE;
}

static const char *opt_file(const char *arg)
{
	return strcmp(arg, "-") ? arg : "";
}

int main(int argc, char **argv)
{
	struct tls_server_opts opts;
	struct tls_ctx *ctx;
	char err[512];
	int lfd, done = 0, maxconn;
	bool use_agent = false;
	unsigned tickets = 0;

	if (argc > 1 && !strcmp(argv[1], "-a")) {
		use_agent = true;
		argv++;
		argc--;
	}
	if (argc > 1 && !strcmp(argv[1], "-t")) {
		tickets = 3600;
		argv++;
		argc--;
	}
	if (argc != 9 && argc != 10) {
		fprintf(stderr, "usage: tls_test_server [-a] [-t] PORT CERT KEY CA CRL none|optional|require "
		                "MAXCONN TIMEOUT_S "
		                "[HANDSHAKE_S]\n");
		return 2;
	}
	if (argc == 10)
		handshake_s = (unsigned)atoi(argv[9]);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	opts = (struct tls_server_opts){.cert_file = argv[2],
	                                .key_file = argv[3],
	                                .ca_file = opt_file(argv[4]),
	                                .crl_file = opt_file(argv[5]),
	                                .client_cert = parse_mode(argv[6]),
	                                .ticket_lifetime = tickets};
	if (use_agent) {
		agent_ctl = test_agent_start(argv[3], &agent_pid);
		opts.use_key_agent = true;
		opts.key_agent_fd = tls_agent_channel(agent_ctl, err, sizeof(err));
		opts.key_file = "";
		if (opts.key_agent_fd < 0) {
			printf("agent-error\t%s\n", err);
			return 1;
		}
	}
	maxconn = atoi(argv[7]);
	deadline = time(NULL) + atoi(argv[8]);
	ctx = tls_server_ctx_new(&opts, err, sizeof(err));
	if (!ctx) {
		printf("ctx-error\t%s\n", err);
		return 1;
	}
	lfd = listen_on((unsigned)atoi(argv[1]));
	if (lfd < 0) {
		printf("listen-error\t%s\n", strerror(errno));
		return 1;
	}
	printf("listening\n");
	while (done < maxconn && seconds_left() > 0) {
		struct pollfd pfd[2] = {{.fd = lfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		int fd;

		if (poll(pfd, 2, seconds_left() * 1000) <= 0)
			continue;
		if (pfd[1].revents && command(ctx) < 0)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(ctx, fd);
		close(fd);
		done++;
	}
	close(lfd);
	tls_ctx_free(ctx);
	return 0;
}

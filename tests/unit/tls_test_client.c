/* tls_test_client: one client connection over lib/tls.h (tls_connect), driven by
 * tests/integration/test_tls_client.py against real servers (openssl s_server,
 * gnutls-serv, Python's ssl).
 *
 * usage: tls_test_client [-a] PORT SERVER_NAME CERT KEY CA CRL [TIMEOUT_S]
 *   CERT, KEY, CRL may be "-" for none; SERVER_NAME "-" sends no name. -a: a key agent
 *   process holds KEY and the context signs through it. Connects to
 *   127.0.0.1:PORT, then prints one line:
 *     ok<TAB>sha256=..<TAB>email=..<TAB>subject=..<TAB>issuer=..<TAB>version=..<TAB>...
 *   or error<TAB><reason from tls_connect>, or ctx-error<TAB><reason>; after "ok" it
 *   sends "hello from mss\n" and prints "echo<TAB><the line read back>" (empty when
 *   the server sent nothing within the timeout). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/tls.h"
#include "tests/unit/tls_test_agent.h"

static const char *opt_file(const char *arg)
{
	return strcmp(arg, "-") ? arg : "";
}

static int connect_to(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("connect-error\t%s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

/* Sends a line and reads one back (up to LF), each step bounded by timeout_s. */
static void echo(struct tls_sess *s, int fd, unsigned timeout_s)
{
	const char msg[] = "hello from mss\n";
	char line[1024];
	size_t sent = 0, len = 0;

	while (sent < sizeof(msg) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT | POLLIN};
		ssize_t w = tls_write(s, msg + sent, sizeof(msg) - 1 - sent);

		if (w > 0)
			sent += (size_t)w;
		else if (w != -2 || poll(&pfd, 1, (int)timeout_s * 1000) <= 0)
			break;
	}
	while (len < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r = tls_read(s, line + len, 1);

		if (r > 0 && line[len++] == '\n')
			break;
		if (r > 0)
			continue;
		if (r != -2 || poll(&pfd, 1, (int)timeout_s * 1000) <= 0)
			break;
	}
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	printf("echo\t%s\n", line);
}

int main(int argc, char **argv)
{
	struct tls_client_opts o;
	struct tls_ctx *ctx;
	struct tls_sess *s;
	struct tls_peer peer;
	char err[512];
	unsigned timeout_s;
	bool use_agent = false;
	int fd;

	if (argc > 1 && !strcmp(argv[1], "-a")) {
		use_agent = true;
		argv++;
		argc--;
	}
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: tls_test_client [-a] PORT SERVER_NAME CERT KEY CA CRL [TIMEOUT_S]\n");
		return 2;
	}
	timeout_s = argc == 8 ? (unsigned)atoi(argv[7]) : 10;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	o = (struct tls_client_opts){.cert_file = opt_file(argv[3]),
	                             .key_file = opt_file(argv[4]),
	                             .ca_file = opt_file(argv[5]),
	                             .crl_file = opt_file(argv[6])};
	if (use_agent) {
		pid_t pid;
		int ctl = test_agent_start(argv[4], &pid);

		o.key_file = "";
		o.use_key_agent = true;
		o.key_agent_fd = tls_agent_channel(ctl, err, sizeof(err));
	}
	ctx = tls_client_ctx_new(&o, err, sizeof(err));
	if (!ctx) {
		printf("ctx-error\t%s\n", err);
		return 1;
	}
	fd = connect_to((unsigned)atoi(argv[1]));
	s = tls_connect(ctx, fd, opt_file(argv[2]), timeout_s, err, sizeof(err));
	if (!s) {
		printf("error\t%s\n", err);
	} else {
		tls_peer_info(s, &peer);
		printf("ok\tsha256=%s\temail=%s\tsubject=%s\tissuer=%s\tversion=%s\tcipher=%s\thas_cert=%d\n",
		       peer.sha256, peer.email, peer.subject_dn, peer.issuer_dn, peer.version, peer.cipher,
		       peer.has_cert ? 1 : 0);
		echo(s, fd, timeout_s);
		tls_sess_free(s);
	}
	close(fd);
	tls_ctx_free(ctx);
	return s ? 0 : 1;
}

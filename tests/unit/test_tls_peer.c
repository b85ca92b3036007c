/* Unit tests (OpenSSL backend): the peer certificate of a session resumed from the
 * shared session table (lib/tls_openssl_scache.c, lib/tls_openssl_peer.c). The table
 * keeps a session without its certificate and the certificate's DER beside it; a
 * process decodes a certificate once and gives every later resumption of it the same
 * X509, with the same verified identity as the full handshake. Real handshakes over
 * socketpairs: the server through lib/tls.h in this process, a raw OpenSSL client
 * (which keeps its ticket, as stunnel does) in a child. TLS 1.3 and TLS 1.2 (a session
 * id). Also: an error another OpenSSL call left in the thread's queue does not make a
 * read that would block look like a broken session. Uses the test PKI of MSS_TEST_PKI;
 * skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/tls_openssl_int.h"

#define CONNS 3

static char pki[512];

static const char *pki_file(char *out, size_t n, const char *name)
{
	(void)snprintf(out, n, "%s/%s", pki, name);
	return out;
}

/* The child: CONNS connections with the operator's certificate, each resuming the
 * session (the newest ticket) the one before got. Exits 0 when all went through. */
static void client(int fds[CONNS], int version)
{
	char c[600], k[600], a[600], buf[8];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *sess = NULL;

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, pki_file(c, sizeof c, "operator.crt"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, pki_file(k, sizeof k, "operator.key"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, pki_file(a, sizeof a, "ca.crt"), NULL) != 1)
		_exit(2);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	for (int i = 0; i < CONNS; i++) {
		SSL *ssl = SSL_new(ctx);
		if (ssl == NULL || SSL_set_fd(ssl, fds[i]) != 1 ||
		    (sess && SSL_set_session(ssl, sess) != 1) || SSL_connect(ssl) != 1 ||
		    SSL_write(ssl, "hi\n", 3) != 3 || SSL_read(ssl, buf, sizeof buf) != 3) {
			ERR_print_errors_fp(stderr);
			_exit(3);
		}
		SSL_SESSION_free(sess);
		sess = SSL_get1_session(ssl); /* the ticket the read brought (TLS 1.3) */
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fds[i]);
	}
	SSL_SESSION_free(sess);
	SSL_CTX_free(ctx);
	_exit(0);
}

static struct tls_ctx *server(void)
{
	char c[600], k[600], a[600], err[256] = "";
	struct tls_server_opts o = {.cert_file = pki_file(c, sizeof c, "server.crt"),
	                            .key_file = pki_file(k, sizeof k, "server.key"),
	                            .ca_file = pki_file(a, sizeof a, "ca.crt"),
	                            .crl_file = "",
	                            .client_cert = TLS_CLIENT_CERT_REQUIRE,
	                            .ticket_lifetime = 3600,
	                            .session_cache = 64};
	struct tls_ctx *ctx = tls_server_ctx_new(&o, err, sizeof err);

	if (ctx == NULL)
		fail_msg("server context: %s", err);
	return ctx;
}

static void resumptions_share_one_certificate(int version)
{
	int sp[CONNS][2], client_fds[CONNS];
	X509 *seen[CONNS];
	struct tls_peer peer[CONNS];
	struct tls_ctx *ctx;
	int status = -1;
	pid_t pid;

	if (!pki[0])
		skip();
	ctx = server();
	for (int i = 0; i < CONNS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
		client_fds[i] = sp[i][1];
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		client(client_fds, version);
	for (int i = 0; i < CONNS; i++) {
		char err[256] = "", line[8];
		close(sp[i][1]);
		struct tls_sess *s = tls_accept(ctx, sp[i][0], 10, err, sizeof err);
		if (s == NULL)
			fail_msg("handshake %d: %s", i, err);
		assert_int_equal(tls_read(s, line, sizeof line), 3);
		assert_int_equal(tls_write(s, line, 3), 3);
		tls_peer_info(s, &peer[i]);
		seen[i] = tls_ossl_peer_cert(s->ssl);
		assert_non_null(seen[i]);
		assert_int_equal(X509_up_ref(seen[i]), 1);
		tls_sess_free(s);
		close(sp[i][0]);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_false(peer[0].resumed);
	for (int i = 1; i < CONNS; i++) {
		assert_true(peer[i].resumed);
		assert_true(peer[i].has_cert); /* the verified identity came back with the session */
		assert_string_equal(peer[i].sha256, peer[0].sha256);
		assert_string_equal(peer[i].subject_dn, peer[0].subject_dn);
		assert_string_equal(peer[i].issuer_dn, peer[0].issuer_dn);
	}
	/* decoded at the first resumption, kept: the second decodes nothing */
	assert_ptr_equal(seen[2], seen[1]);
	for (int i = 0; i < CONNS; i++)
		X509_free(seen[i]);
	tls_ctx_free(ctx);
}

static void test_tls13_resumptions_share_one_certificate(void **state)
{
	(void)state;
	resumptions_share_one_certificate(TLS1_3_VERSION);
}

static void test_tls12_resumptions_share_one_certificate(void **state)
{
	(void)state;
	resumptions_share_one_certificate(TLS1_2_VERSION);
}

/* The child for the stale-error test: one connection; it sends its line only once the
 * parent says go (a byte on the pipe), then reads the echo. */
static void client_on_go(int fd, int go)
{
	char c[600], k[600], a[600], buf[8];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, pki_file(c, sizeof c, "operator.crt"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, pki_file(k, sizeof k, "operator.key"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, pki_file(a, sizeof a, "ca.crt"), NULL) != 1)
		_exit(2);
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 || read(go, buf, 1) != 1 ||
	    SSL_write(ssl, "hi\n", 3) != 3 || SSL_read(ssl, buf, sizeof buf) != 3)
		_exit(3);
	_exit(0);
}

/* tls_read and tls_write look at the error queue before clearing it (a clear walks all
 * its slots, twice per relayed line): an error left there by an earlier call must still
 * be cleared, or SSL_get_error reports it for a read that only would block, and the
 * session is taken for broken. */
static void test_an_old_error_does_not_break_a_read_that_would_block(void **state)
{
	(void)state;
	int sp[2], go[2], status = -1;
	char err[256] = "", line[8];
	struct tls_ctx *ctx;
	struct tls_sess *s;
	pid_t pid;

	if (!pki[0])
		skip();
	ctx = server();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sp[0]);
		close(go[1]);
		client_on_go(sp[1], go[0]);
	}
	close(sp[1]);
	close(go[0]);
	s = tls_accept(ctx, sp[0], 10, err, sizeof err);
	if (s == NULL)
		fail_msg("handshake: %s", err);
	assert_int_equal(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
	ERR_raise(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE); /* left by another call */
	assert_int_equal(tls_read(s, line, sizeof line), -2);       /* nothing sent yet: would block */
	assert_int_equal(ERR_peek_error(), 0);
	assert_int_equal(fcntl(sp[0], F_SETFL, 0), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(tls_read(s, line, sizeof line), 3);
	ERR_raise(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE);
	assert_int_equal(tls_write(s, line, 3), 3);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tls_sess_free(s);
	close(sp[0]);
	close(go[1]);
	tls_ctx_free(ctx);
}

int main(void)
{
	const char *p = getenv("MSS_TEST_PKI");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls13_resumptions_share_one_certificate),
	    cmocka_unit_test(test_tls12_resumptions_share_one_certificate),
	    cmocka_unit_test(test_an_old_error_does_not_break_a_read_that_would_block),
	};

	signal(SIGPIPE, SIG_IGN); /* a client that failed: its error, not a signal */
	if (p && *p && strlen(p) < sizeof pki)
		memcpy(pki, p, strlen(p) + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

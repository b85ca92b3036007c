/* Unit tests: the key agent (lib/tls_agent.c and the backend's key operations) in a
 * real process, over real SOCK_SEQPACKET channels. Keys are made by the test with
 * OpenSSL, and every signature the agent returns is checked with OpenSSL, whichever
 * backend the agent runs on. A malformed or unexpected request must end its channel
 * (the peer reads EOF) while the agent goes on serving other channels. */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_padding_add_PKCS1_PSS_mgf1: OpenSSL's own PSS encoder */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "lib/tls.h"
#include "lib/tls_agent_msg.h"

struct fixture {
	char dir[64], ec_path[128], rsa_path[128];
	EVP_PKEY *ec, *rsa;
	uint8_t ec_id[32], rsa_id[32];
	pid_t pid;
	int ctl;
};

static void write_key(EVP_PKEY *pk, const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void spki_id(EVP_PKEY *pk, uint8_t id[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);

	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, id, NULL, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
}

static void start_agent(struct fixture *f)
{
	const char *keys[] = {f->ec_path, f->rsa_path};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		char err[256];
		struct tls_agent *a;

		close(sv[0]);
		a = tls_agent_new(keys, 2, err, sizeof(err));
		if (!a)
			_exit(3);
		(void)tls_agent_run(a, sv[1]);
		tls_agent_free(a);
		_exit(0);
	}
	close(sv[1]);
	f->ctl = sv[0];
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/mss-agent-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ec_path, sizeof(f->ec_path), "%s/ec.key", f->dir);
	snprintf(f->rsa_path, sizeof(f->rsa_path), "%s/rsa.key", f->dir);
	f->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(f->ec);
	assert_non_null(f->rsa);
	write_key(f->ec, f->ec_path);
	write_key(f->rsa, f->rsa_path);
	spki_id(f->ec, f->ec_id);
	spki_id(f->rsa, f->rsa_id);
	start_agent(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int status = 0;

	close(f->ctl); /* the agent ends when its master is gone */
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EVP_PKEY_free(f->ec);
	EVP_PKEY_free(f->rsa);
	unlink(f->ec_path);
	unlink(f->rsa_path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int channel(struct fixture *f)
{
	char err[256];
	int fd = tls_agent_channel(f->ctl, err, sizeof(err));

	if (fd < 0)
		fail_msg("channel: %s", err);
	return fd;
}

/* Asks for a signature of digest with scheme; returns tls_agent_call's result. */
static int sign(int fd, const uint8_t id[32], uint8_t scheme, uint8_t hash, const uint8_t *data, size_t len,
                uint8_t *sig, size_t *siglen)
{
	static uint32_t seq = 100;
	struct tls_agent_req r = {.scheme = scheme, .hash = hash, .data = data, .data_len = len};

	memcpy(r.key_id, id, 32);
	return tls_agent_call(fd, &seq, &r, sig, TLS_AGENT_MAX_SIG, siglen);
}

static void verify(EVP_PKEY *pk, int pad, const EVP_MD *md, const uint8_t *dgst, size_t dlen,
                   const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);

	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md), 1);
	if (pad) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, pad), 1);
		if (pad == RSA_PKCS1_PSS_PADDING)
			assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
	}
	assert_int_equal(EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen), 1);
	EVP_PKEY_CTX_free(ctx);
}

/* True when the agent closed the channel (EOF within a few seconds). */
static bool closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t b[TLS_AGENT_MAX_MSG];

	return poll(&p, 1, 5000) == 1 && recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0;
}

static void test_signatures_verify(void **state)
{
	struct fixture *f = *state;
	uint8_t d32[32], d48[48], sig[TLS_AGENT_MAX_SIG];
	size_t n = 0;
	int fd = channel(f);

	memset(d32, 0x11, sizeof(d32));
	memset(d48, 0x22, sizeof(d48));
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, d32, 32, sig, &n), 0);
	verify(f->ec, 0, EVP_sha256(), d32, 32, sig, n);
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA384, d48, 48, sig, &n), 0);
	verify(f->ec, 0, EVP_sha384(), d48, 48, sig, n);
	assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PKCS1, TLS_AGENT_SHA256, d32, 32, sig, &n), 0);
	assert_int_equal(n, 256);
	verify(f->rsa, RSA_PKCS1_PADDING, EVP_sha256(), d32, 32, sig, n);
	assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PSS, TLS_AGENT_SHA384, d48, 48, sig, &n), 0);
	verify(f->rsa, RSA_PKCS1_PSS_PADDING, EVP_sha384(), d48, 48, sig, n);
	close(fd);
}

/* What OpenSSL's handshake side sends for RSA-PSS: the encoded block. */
static void test_pss_block(void **state)
{
	struct fixture *f = *state;
	uint8_t d32[32], em[256], sig[TLS_AGENT_MAX_SIG];
	size_t n = 0;
	int fd = channel(f);

	memset(d32, 0x33, sizeof(d32));
	assert_int_equal(RSA_padding_add_PKCS1_PSS_mgf1((RSA *)EVP_PKEY_get0_RSA(f->rsa), em, d32,
	                                                EVP_sha256(), NULL, RSA_PSS_SALTLEN_DIGEST),
	                 1);
	if (strcmp(tls_backend(), "openssl") != 0) {
		/* GnuTLS's handshake side never sends a block, and its agent refuses one. */
		assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PSS_BLOCK, 0, em, sizeof(em), sig, &n),
		                 -1);
		assert_true(closed(fd));
		close(fd);
		return;
	}
	assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PSS_BLOCK, 0, em, sizeof(em), sig, &n), 0);
	verify(f->rsa, RSA_PKCS1_PSS_PADDING, EVP_sha256(), d32, 32, sig, n);
	/* A block that is not a PSS encoding (a ciphertext, say) is refused. */
	em[100] ^= 1;
	assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PSS_BLOCK, 0, em, sizeof(em), sig, &n), -1);
	assert_true(closed(fd));
	close(fd);
}

/* Sends msg (n bytes) as one datagram and expects the agent to close the channel. */
static void expect_refused(struct fixture *f, const uint8_t *msg, size_t n, const char *what)
{
	int fd = channel(f);

	assert_int_equal(send(fd, msg, n, 0), (ssize_t)n);
	if (!closed(fd))
		fail_msg("%s: channel not closed", what);
	close(fd);
}

static size_t request(uint8_t *msg, const uint8_t id[32], uint8_t scheme, uint8_t hash, size_t len)
{
	static uint8_t data[TLS_AGENT_MAX_DATA];
	struct tls_agent_req r = {.id = 1, .scheme = scheme, .hash = hash, .data = data, .data_len = len};

	memcpy(r.key_id, id, 32);
	return tls_agent_encode_sign(msg, &r);
}

static void test_bad_requests_end_the_channel(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[4096], d32[32], sig[TLS_AGENT_MAX_SIG];
	size_t n, siglen;
	int fd;

	memset(msg, 'x', sizeof(msg));
	expect_refused(f, msg, 100, "garbage");
	expect_refused(f, msg, sizeof(msg), "oversized datagram");
	n = tls_agent_encode_header(msg, TLS_AGENT_RELOAD, 1);
	expect_refused(f, msg, n, "a control message on a channel");
	n = request(msg, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32);
	expect_refused(f, msg, n - 1, "truncated");
	n = request(msg, f->rsa_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32);
	expect_refused(f, msg, n, "ECDSA with an RSA key");
	n = request(msg, f->ec_id, TLS_AGENT_RSA_PKCS1, TLS_AGENT_SHA256, 32);
	expect_refused(f, msg, n, "RSA with an EC key");
	n = request(msg, f->rsa_id, TLS_AGENT_RSA_PSS_BLOCK, 0, 256);
	expect_refused(f, msg, n, "zero block");
	n = request(msg, f->rsa_id, TLS_AGENT_RSA_PSS_BLOCK, 0, 128);
	expect_refused(f, msg, n, "block of the wrong size");
	/* The agent survived all of that. */
	fd = channel(f);
	memset(d32, 0x44, sizeof(d32));
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, d32, 32, sig, &siglen), 0);
	close(fd);
}

/* A key the agent does not hold (replaced by a reload while a handshake was under
 * way): that signature fails, the channel stays usable. */
static void test_unknown_key_fails_channel_stays(void **state)
{
	struct fixture *f = *state;
	uint8_t unknown[32], d32[32], sig[TLS_AGENT_MAX_SIG];
	size_t n = 0;
	int fd = channel(f);

	memset(unknown, 0x77, sizeof(unknown));
	memset(d32, 0x12, sizeof(d32));
	assert_int_equal(sign(fd, unknown, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, d32, 32, sig, &n), -1);
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, d32, 32, sig, &n), 0);
	verify(f->ec, 0, EVP_sha256(), d32, 32, sig, n);
	close(fd);
}

static void test_descriptor_on_channel_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[TLS_AGENT_MAX_MSG];
	char cbuf[CMSG_SPACE(sizeof(int))];
	size_t n = request(msg, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32);
	struct iovec iov = {.iov_base = msg, .iov_len = n};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fd = channel(f), extra = 0;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &extra, sizeof(int));
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)n);
	assert_true(closed(fd));
	close(fd);
}

static void test_stale_answer_skipped(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[TLS_AGENT_MAX_MSG], d32[32], sig[TLS_AGENT_MAX_SIG];
	size_t n = request(msg, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32), siglen = 0;
	int fd = channel(f);

	/* A request whose answer nobody read (its caller timed out): id 1, older than
	 * every id sign() uses. */
	assert_int_equal(send(fd, msg, n, 0), (ssize_t)n);
	memset(d32, 0x55, sizeof(d32));
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, d32, 32, sig, &siglen), 0);
	verify(f->ec, 0, EVP_sha256(), d32, 32, sig, siglen);
	close(fd);
}

static void test_reload_takes_new_key(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *next = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	uint8_t id[32], d48[48], sig[TLS_AGENT_MAX_SIG];
	char err[256];
	size_t n = 0;
	int fd = channel(f);

	write_key(next, f->ec_path);
	spki_id(next, id);
	/* The answer comes once the agent holds the new key: no wait needed after it. */
	assert_int_equal(tls_agent_request_reload(f->ctl, err, sizeof(err)), 0);
	memset(d48, 0x66, sizeof(d48));
	assert_int_equal(sign(fd, id, TLS_AGENT_ECDSA, TLS_AGENT_SHA384, d48, 48, sig, &n), 0);
	verify(next, 0, EVP_sha384(), d48, 48, sig, n);
	/* The replaced key stays one reload longer (a context that refused its new
	 * certificate still signs with it), then it is gone. */
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA384, d48, 48, sig, &n), 0);
	assert_int_equal(tls_agent_request_reload(f->ctl, err, sizeof(err)), 0);
	assert_int_equal(sign(fd, f->ec_id, TLS_AGENT_ECDSA, TLS_AGENT_SHA384, d48, 48, sig, &n), -1);
	assert_int_equal(sign(fd, id, TLS_AGENT_ECDSA, TLS_AGENT_SHA384, d48, 48, sig, &n), 0);
	close(fd);
	EVP_PKEY_free(f->ec);
	f->ec = next;
	memcpy(f->ec_id, id, 32);
}

static void test_bad_reload_keeps_keys(void **state)
{
	struct fixture *f = *state;
	FILE *k = fopen(f->rsa_path, "w");
	uint8_t d32[32], sig[TLS_AGENT_MAX_SIG];
	char err[256] = "";
	size_t n = 0;
	int fd;

	fputs("not a key\n", k);
	fclose(k);
	assert_int_equal(tls_agent_request_reload(f->ctl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "did not load"));
	fd = channel(f);
	memset(d32, 0x77, sizeof(d32));
	assert_int_equal(sign(fd, f->rsa_id, TLS_AGENT_RSA_PKCS1, TLS_AGENT_SHA256, d32, 32, sig, &n), 0);
	verify(f->rsa, RSA_PKCS1_PADDING, EVP_sha256(), d32, 32, sig, n);
	close(fd);
	write_key(f->rsa, f->rsa_path);
}

/* HAS_KEY: a master checks the certificate it loads has its key in the agent; a
 * HAS_KEY of the wrong length is refused like any malformed request. */
static void test_has_key(void **state)
{
	struct fixture *f = *state;
	uint8_t unknown[32], msg[TLS_AGENT_HAS_KEY_LEN + 1];
	uint32_t seq = 0;
	int fd = channel(f);

	memset(unknown, 0x77, sizeof(unknown));
	assert_int_equal(tls_agent_has_key(fd, &seq, f->ec_id), 1);
	assert_int_equal(tls_agent_has_key(fd, &seq, f->rsa_id), 1);
	assert_int_equal(tls_agent_has_key(fd, &seq, unknown), 0);
	tls_agent_encode_header(msg, TLS_AGENT_HAS_KEY, 9);
	memcpy(msg + TLS_AGENT_HEADER, f->ec_id, 32);
	msg[TLS_AGENT_HAS_KEY_LEN] = 0;
	assert_int_equal(send(fd, msg, TLS_AGENT_HAS_KEY_LEN + 1, 0), TLS_AGENT_HAS_KEY_LEN + 1);
	assert_true(closed(fd));
	close(fd);
}

static void test_new_names_the_file(void **state)
{
	const char *keys[] = {"/nonexistent/mss.key"};
	char err[256] = "";

	(void)state;
	assert_null(tls_agent_new(keys, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read key file /nonexistent/mss.key: No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signatures_verify),
	    cmocka_unit_test(test_pss_block),
	    cmocka_unit_test(test_bad_requests_end_the_channel),
	    cmocka_unit_test(test_unknown_key_fails_channel_stays),
	    cmocka_unit_test(test_descriptor_on_channel_refused),
	    cmocka_unit_test(test_stale_answer_skipped),
	    cmocka_unit_test(test_reload_takes_new_key),
	    cmocka_unit_test(test_bad_reload_keeps_keys),
	    cmocka_unit_test(test_has_key),
	    cmocka_unit_test(test_new_names_the_file),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}

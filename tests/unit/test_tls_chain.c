/* Unit tests (OpenSSL backend): the chain a context sends with its certificate. When
 * the certificate file holds the leaf alone, the chain is built once, when the context
 * is, from the CAs of ca_file (lib/tls_openssl.c build_chain), instead of by OpenSSL at
 * every full handshake; a chain written in the file is sent as written. Uses the test
 * PKI of MSS_TEST_PKI (scripts/make-test-pki); skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "lib/tls_openssl_int.h"

static char pki[512];

static const char *pki_file(char *out, size_t n, const char *name)
{
	(void)snprintf(out, n, "%s/%s", pki, name);
	return out;
}

/* The subject CNs of the context's chain (leaf excluded), "|"-separated. */
static void chain_names(struct tls_ctx *ctx, char *out, size_t n)
{
	STACK_OF(X509) *chain = NULL;

	out[0] = '\0';
	assert_int_equal(SSL_CTX_get0_chain_certs(ctx->ssl_ctx, &chain), 1);
	for (int i = 0; i < sk_X509_num(chain); i++) {
		char cn[128] = "";
		(void)X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, i)),
		                                NID_commonName, cn, sizeof cn);
		if (i > 0)
			(void)strncat(out, "|", n - strlen(out) - 1);
		(void)strncat(out, cn, n - strlen(out) - 1);
	}
}

static struct tls_ctx *server(const char *cert, const char *ca)
{
	char c[600], k[600], a[600], err[256] = "";
	struct tls_server_opts o = {.cert_file = cert[0] == '/' ? cert : pki_file(c, sizeof c, cert),
	                            .key_file = pki_file(k, sizeof k, "server.key"),
	                            .ca_file = ca ? pki_file(a, sizeof a, ca) : "",
	                            .client_cert = ca ? TLS_CLIENT_CERT_OPTIONAL : TLS_CLIENT_CERT_NONE};
	struct tls_ctx *ctx = tls_server_ctx_new(&o, err, sizeof err);

	if (ctx == NULL)
		fail_msg("server context: %s", err);
	return ctx;
}

static void test_leaf_alone_gets_its_ca(void **state)
{
	char names[512];
	struct tls_ctx *ctx;

	(void)state;
	if (!pki[0])
		skip();
	ctx = server("server.crt", "ca.crt");
	chain_names(ctx, names, sizeof names);
	assert_string_equal(names, "MSS Test CA"); /* what OpenSSL built at each handshake */
	tls_ctx_free(ctx);
}

static void test_no_ca_no_chain(void **state)
{
	char names[512];
	struct tls_ctx *ctx;

	(void)state;
	if (!pki[0])
		skip();
	ctx = server("server.crt", NULL);
	chain_names(ctx, names, sizeof names);
	assert_string_equal(names, "");
	tls_ctx_free(ctx);
}

/* A chain written in the certificate file is sent as written, never rebuilt: here a
 * CA that is not in ca_file. */
static void test_written_chain_kept(void **state)
{
	char path[] = "/tmp/test_tls_chain.XXXXXX", names[512], buf[8192], src[600];
	struct tls_ctx *ctx;
	FILE *out;
	int fd;

	(void)state;
	if (!pki[0])
		skip();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	out = fdopen(fd, "w");
	assert_non_null(out);
	for (int i = 0; i < 2; i++) {
		FILE *in = fopen(pki_file(src, sizeof src, i == 0 ? "server.crt" : "untrusted-ca.crt"), "r");
		size_t n;
		assert_non_null(in);
		while ((n = fread(buf, 1, sizeof buf, in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
	}
	assert_int_equal(fclose(out), 0);
	ctx = server(path, "ca.crt");
	chain_names(ctx, names, sizeof names);
	(void)unlink(path);
	assert_string_equal(names, "Untrusted Test CA");
	tls_ctx_free(ctx);
}

static void test_client_context_too(void **state)
{
	char c[600], k[600], a[600], err[256] = "", names[512];
	struct tls_client_opts o;
	struct tls_ctx *ctx;

	(void)state;
	if (!pki[0])
		skip();
	o = (struct tls_client_opts){.cert_file = pki_file(c, sizeof c, "operator.crt"),
	                             .key_file = pki_file(k, sizeof k, "operator.key"),
	                             .ca_file = pki_file(a, sizeof a, "ca.crt"),
	                             .crl_file = ""};
	ctx = tls_client_ctx_new(&o, err, sizeof err);
	if (ctx == NULL)
		fail_msg("client context: %s", err);
	chain_names(ctx, names, sizeof names);
	assert_string_equal(names, "MSS Test CA");
	tls_ctx_free(ctx);
}

int main(void)
{
	const char *p = getenv("MSS_TEST_PKI");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leaf_alone_gets_its_ca),
	    cmocka_unit_test(test_no_ca_no_chain),
	    cmocka_unit_test(test_written_chain_kept),
	    cmocka_unit_test(test_client_context_too),
	};

	if (p && *p && strlen(p) < sizeof pki)
		memcpy(pki, p, strlen(p) + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

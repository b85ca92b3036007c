/* tls_openssl_int.h: the OpenSSL backend's shared definitions (tls_openssl*.c only). */
#ifndef MSS_TLS_OPENSSL_INT_H
#define MSS_TLS_OPENSSL_INT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/tls.h"
#include "lib/tls_int.h"

struct tls_agent_key;

struct tls_ctx {
	bool client;
	enum tls_client_cert client_cert;
	char *cert_file, *key_file, *ca_file, *crl_file; /* copies, for tls_ctx_reload */
	bool use_agent;
	int agent_fd;
	SSL_CTX *ssl_ctx;           /* material in force; each SSL holds its own reference */
	STACK_OF(X509) * cas;       /* the CAs of ca_file: CRLs must be signed by one of them */
	struct tls_agent_key *akey; /* the agent-backed key in force, NULL with key_file */
	struct tls_crl_watch crl;
	unsigned ticket_lifetime; /* 0: no resumption */
	unsigned
	    session_cache;   /* sessions kept for resumption (tls_openssl_scache.c); 0: stateless tickets */
	time_t ticket_since; /* when the ticket key in force was made */
};

struct tls_sess {
	SSL *ssl;
	bool broken; /* a fatal error happened: no close_notify may be sent */
};

/* The most recent OpenSSL error's reason, or fallback; clears the queue. */
const char *tls_ossl_reason(const char *fallback);
/* A read-only memory BIO over b. */
BIO *tls_ossl_bio(const struct buf *b);

/* tls_openssl_crl.c: tls_crl_install_fn for a struct tls_ctx; and the store of the
 * CAs alone (no CRL configured). */
int tls_ossl_crl_install(void *ctx, const char *path, const struct buf *data, time_t *next_update, char *err,
                         size_t errlen);
int tls_ossl_store_install(struct tls_ctx *ctx, STACK_OF(X509_CRL) * crls, char *err, size_t errlen);
/* The SSL verify callback: a CRL past its nextUpdate does not fail verification. */
int tls_ossl_verify_cb(int ok, X509_STORE_CTX *x);
/* A resumed session's peer certificate verified again against the store in force
 * (CAs, CRL), as a full handshake verifies it. Returns 0, or -1 with err (the
 * verification error, "certificate revoked"). */
int tls_ossl_reverify(SSL_CTX *c, SSL *ssl, char *err, size_t errlen);

/* tls_openssl_scache.c: resumption from sessions kept in a table shared by the
 * processes forked from now on (made with the context's first call, of slots
 * sessions). Returns 0, or -1 when the table could not be made (then nothing changed). */
int tls_ossl_scache_on(SSL_CTX *c, unsigned slots);
/* No session kept nor looked up any more; those kept are forgotten. */
void tls_ossl_scache_off(SSL_CTX *c);
/* Forgets every session kept; false when the context keeps none (stateless tickets). */
bool tls_ossl_scache_clear(SSL_CTX *c);

/* tls_openssl_peer.c: the peer's certificate of ssl's session (a full handshake's,
 * or the one tls_ossl_session_set_peer attached to a session resumed from the table);
 * NULL when the peer showed none. Owned by the session. */
X509 *tls_ossl_peer_cert(const SSL *ssl);
X509 *tls_ossl_session_peer(const SSL_SESSION *sess);
/* Attaches to sess, which has no peer certificate of its own, the certificate der
 * (len bytes) encodes: decoded once per process and kept (the same DER, byte for byte,
 * gets the same X509). Returns 0, or -1 (does not decode as one certificate). */
int tls_ossl_session_set_peer(SSL_SESSION *sess, const unsigned char *der, size_t len);

/* tls_openssl_key.c: an EVP_PKEY whose private operations go to the key agent on
 * fd, for the public key of cert. NULL with err. */
EVP_PKEY *tls_ossl_agent_pkey(X509 *cert, int fd, struct tls_agent_key **akey_r, char *err, size_t errlen);
void tls_ossl_agent_key_set_fd(struct tls_agent_key *akey, int fd);
/* The agent holds the key of akey (tls_agent_check_held): 0, or -1 with err. */
int tls_ossl_agent_key_check(struct tls_agent_key *akey, const char *key_file, const char *cert_file,
                             char *err, size_t errlen);
/* SHA-256 of the DER SubjectPublicKeyInfo of pk: how the agent names its keys. */
int tls_ossl_spki_id(EVP_PKEY *pk, uint8_t id[32]);
/* True when block (k bytes, a modulus of modbits) is an EMSA-PSS encoding with a salt
 * as long as SHA-256, -384 or -512 (tls_openssl_agent.c). */
bool tls_ossl_pss_block_ok(const uint8_t *block, size_t k, int modbits);

#endif

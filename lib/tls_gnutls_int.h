/* tls_gnutls_int.h: the GnuTLS backend's shared definitions (tls_gnutls*.c only). */
#ifndef MSS_TLS_GNUTLS_INT_H
#define MSS_TLS_GNUTLS_INT_H

#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "lib/tls.h"
#include "lib/tls_gnutls_key.h"
#include "lib/tls_int.h"

/* The CAs and CRLs a handshake verifies its peer against. Shared by the sessions that
 * started with it: a CRL reload makes a new one. */
struct tls_gtrust {
	int refs;
	gnutls_x509_trust_list_t tl;
	gnutls_datum_t *crl_issuers; /* raw issuer DN of each CRL */
	unsigned ncrl;
};

/* What a context's handshakes use: credentials and trust, replaced whole by
 * tls_ctx_reload while sessions keep the one they started with. */
struct tls_gen {
	int refs;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t *ca_der; /* the CAs of ca_file, DER, to build trust lists from */
	unsigned nca;
	gnutls_x509_crt_t *cas; /* the same, parsed: CRLs must be signed by one of them */
	struct tls_gtrust *trust;
	struct tls_gagent_key *akey; /* owned by the credentials' private key */
};

struct tls_ctx {
	bool client;
	enum tls_client_cert client_cert;
	char *cert_file, *key_file, *ca_file, *crl_file;
	bool use_agent;
	int agent_fd;
	gnutls_priority_t prio;
	struct tls_gen *gen;
	struct tls_crl_watch crl;
	unsigned ticket_lifetime;  /* 0: no resumption */
	gnutls_datum_t ticket_key; /* from gnutls_session_ticket_key_generate; secret */
	time_t ticket_since;       /* when ticket_key was made */
};

struct tls_sess {
	gnutls_session_t s;
	struct tls_gen *gen;
	struct tls_gtrust *trust;
	bool client;
	bool verified; /* the peer's certificate verified */
	bool broken;
	char verify_err[128];
	/* A record's cleartext taken with gnutls_record_recv_packet and not yet all read
	 * (from off): overwritten before GnuTLS frees it, as OpenSSL's
	 * SSL_OP_CLEANSE_PLAINTEXT does, so a reused process (lib/master.h) keeps no
	 * earlier peer's bytes. NULL when none. */
	gnutls_packet_t pkt;
	size_t off;
};

void tls_gen_unref(struct tls_gen *g);
void tls_gtrust_unref(struct tls_gtrust *t);
/* "no usable ..." text of a GnuTLS error code. */
const char *tls_gnutls_reason(int rc);

/* tls_gnutls_crl.c */
int tls_gnutls_crl_install(void *ctx, const char *path, const struct buf *data, time_t *next_update,
                           char *err, size_t errlen);
/* Builds the trust of the CAs alone into g (no CRL configured). */
int tls_gnutls_trust_install(struct tls_gen *g, gnutls_x509_crl_t *crls, unsigned ncrl, char *err,
                             size_t errlen);
/* The verify function: the peer's chain against s->trust; sets s->verify_err. */
int tls_gnutls_verify(gnutls_session_t session);
/* A resumed session's peer certificate (GnuTLS keeps the chain in the session state
 * its ticket carries) verified again against s->trust, the CA and CRL in force when it
 * started, as a full handshake verifies it. Returns 0 (also without a certificate), or
 * -1 with err (the verification error, "certificate revoked"). */
int tls_gnutls_reverify(struct tls_sess *s, char *err, size_t errlen);

/* tls_gnutls_key.c: the agent's key (lib/tls_gnutls_key.h, which mss-webd uses too) */

/* tls_gnutls_peer.c */
void tls_gnutls_peer_info(struct tls_sess *s, struct tls_peer *out);

#endif

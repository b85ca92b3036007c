/* web_tls.h: mss-webd's certificate, and its private key kept in the key agent
 * (lib/key_agent.h, issue 12): libmicrohttpd's GnuTLS gets both from a certificate
 * callback (MHD_OPTION_HTTPS_CERT_CALLBACK) instead of the key's PEM text, and every
 * signature a handshake needs is made by the agent over the session's own channel
 * (lib/tls_gnutls_key.h, the same key the GnuTLS backend of the mail daemons uses).
 * No web process ever reads or holds the key. */
#ifndef MSS_WEB_TLS_H
#define MSS_WEB_TLS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* The master, at start: the agent on agent_fd holds the key of the certificate chain
 * cert_pem (read from cert_file). Returns 0, or -1 with err naming the files ("key file
 * /k does not match certificate file /c"). */
int web_tls_check(const char *cert_pem, const char *cert_file, const char *key_file, int agent_fd, char *err,
                  size_t errlen);
/* A session process: the chain cert_pem, and a key signing through agent_fd, become the
 * process's credential (web_tls_retrieve). Returns 0, or -1 with err. */
int web_tls_load(const char *cert_pem, int agent_fd, char *err, size_t errlen);
/* libmicrohttpd's certificate callback (gnutls_certificate_retrieve_function2): the
 * credential web_tls_load made. It has no argument of its own: one process serves one
 * connection, so the credential is the process's. */
int web_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                     unsigned int *pcert_length, gnutls_privkey_t *pkey);

#endif

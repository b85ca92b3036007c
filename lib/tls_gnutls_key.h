/* tls_gnutls_key.h: a GnuTLS private key whose signatures the key agent makes
 * (lib/key_agent.h), for any GnuTLS handshake: the GnuTLS backend of lib/tls.h, and
 * mss-webd, whose libmicrohttpd runs GnuTLS whatever the backend (webd/web_tls.c).
 * Built with either backend; only a program that calls it links GnuTLS. */
#ifndef MSS_TLS_GNUTLS_KEY_H
#define MSS_TLS_GNUTLS_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct tls_gagent_key;

/* A private key for the certificate cert whose signatures the key agent on fd makes
 * (gnutls_privkey_import_ext4; the key owns *akey_r). Returns 0, or -1 with err. */
int tls_gnutls_agent_privkey(gnutls_x509_crt_t cert, int fd, gnutls_privkey_t *key_r,
                             struct tls_gagent_key **akey_r, char *err, size_t errlen);
void tls_gnutls_agent_key_set_fd(struct tls_gagent_key *akey, int fd);
/* The agent holds the key of akey (tls_agent_check_held): 0, or -1 with err. */
int tls_gnutls_agent_key_check(struct tls_gagent_key *akey, const char *key_file, const char *cert_file,
                               char *err, size_t errlen);
/* SHA-256 of the DER SubjectPublicKeyInfo. */
int tls_gnutls_spki_id(gnutls_pubkey_t pub, uint8_t id[32]);

#endif

/* mss_limits.h: the fixed size limits of MSS in one place, each with the RFC or the reason.
 *
 * These are protocol and storage bounds that no administrator should change: the size
 * of an address field, of a tag, of a mailbox name, of a certificate file. Limits an
 * administrator tunes (message size, line lengths, sessions, recipients, timeouts) are
 * config keys with their defaults in lib/config.c and doc/mss.conf.5, never here.
 *
 * A *_SIZE is a buffer size, NUL included; a *_MAX is a count or a length without NUL.
 * The parts' own names (AUTH_ADDRESS_MAX, SMTP_PATH_MAX, STORE_MAILBOX_MAX...) are
 * defined from these, so a bound is written once. Include as "lib/mss_limits.h" (not limits.h: that is the C
 * library's). */
#ifndef MSS_MSS_LIMITS_H
#define MSS_MSS_LIMITS_H

/* Mail addresses and domains */
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets, so an
 * address is at most 254; 256 bytes hold it with its NUL and a spare byte. */
#define MSS_ADDRESS_SIZE 256
/* RFC 5321 4.5.3.1.2: a domain is at most 255 octets. */
#define MSS_DOMAIN_SIZE 256
/* RFC 5322 display names have no limit; longer ones are cut for display only. */
#define MSS_DISPLAY_NAME_SIZE 256
/* Addresses kept per header field (To, Cc...); more are counted, not kept. */
#define MSS_ADDRESSES_PER_FIELD_MAX 100

/* SMTP (smtpd/) */
/* RFC 5321 4.1.1: verbs are 4 letters; 16 leaves room for unknown ones to be named. */
#define MSS_SMTP_VERB_SIZE 16

/* IMAP (imap/, imapd/) */
/* RFC 3501 defines no tag length; 64 as Dovecot bounds it: longer tags are refused. */
#define MSS_IMAP_TAG_MAX 64
/* The longest command name ("UID EXPUNGE") with room. */
#define MSS_IMAP_COMMAND_MAX 32
/* A mailbox name in UTF-8 (RFC 9051 5.1), NUL included: the store's column bound. */
#define MSS_MAILBOX_NAME_SIZE 512
/* The keywords of one message, space-separated (RFC 9051 2.3.2), NUL included. */
#define MSS_KEYWORDS_SIZE 1024

/* Authentication (auth/) */
/* DESIGN.md: an OAuth bearer token over 16 KiB is refused before any parsing. */
#define MSS_AUTH_TOKEN_MAX 16384
/* RFC 4616 PLAIN: two identities and a password, with room to spare. */
#define MSS_SASL_MESSAGE_MAX 2048
/* hex characters of a web session token (32 random bytes) */
#define MSS_WEB_SESSION_TOKEN_LEN 64

/* Certificates and the trust list (lib/tls, directory/) */
/* RFC 4514 distinguished names as keys: longer DNs are refused, never cut. */
#define MSS_DN_KEY_SIZE 2048
/* A field of the ANS trust list (ListeBlancheMSSante). */
#define MSS_TRUST_FIELD_SIZE 1024
/* Certificate, CA bundle and CRL files read at start and reload. */
#define MSS_TLS_CERT_FILE_MAX (1u << 20)
#define MSS_TLS_CA_FILE_MAX (8u << 20)
#define MSS_TLS_CRL_FILE_MAX (64u << 20)

/* Configuration (lib/config) */
#define MSS_CONFIG_PATH_SIZE 1024 /* a path value, NUL included (PATH_MAX is 4096) */
#define MSS_CONFIG_STRING_SIZE 256
#define MSS_CONFIG_LIST_SIZE 4096

/* The vault (vault/) */
/* A CDA narrative rendered as HTML: larger ones are cut (the XML stays attached). */
#define MSS_CDA_HTML_MAX (4u * 1024 * 1024)
/* Documents in one XDM (IHE ITI-32) archive. */
#define MSS_XDM_DOCUMENTS_MAX 64

#endif

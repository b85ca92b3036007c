/* auth_sender.h: who sent a message and how they proved it, as mss-smtpd established
 * it: the input of the sender identity rules (identity.h), of the conversation rules
 * (policy/) and of the vault's records. It lives here, below vault/ and policy/, because
 * proving who a sender is belongs to authentication. The names keep their policy_
 * prefix: mss-smtpd fills these structs as before. */
#ifndef MSS_AUTH_SENDER_H
#define MSS_AUTH_SENDER_H

#include "directory/account.h"
#include "directory/directory_entry.h"

enum sender_auth {
	SENDER_ANONYMOUS = 0, /* nothing proven (MX without a trusted certificate) */
	SENDER_PASSWORD,      /* SASL PLAIN/LOGIN on submission (a patient) */
	SENDER_CERTIFICATE,   /* SASL EXTERNAL, or password + the account's own certificate */
	SENDER_OPERATOR,      /* MX peer whose server certificate DN is on the trust list */
	SENDER_RELAY_CERT,    /* establishment relay: client cert mapped to an organisation */
	SENDER_RELAY_SPF,     /* establishment relay: relay_networks + SPF pass */
	SENDER_TOKEN,         /* SASL XOAUTH2/OAUTHBEARER with an OAuth access token */
};

struct policy_sender {
	enum sender_auth auth;
	char account[256]; /* authenticated local account address, "" when none */
	/* the login used the account's password, whose digest was password_stamp then: a
	 * password replaced since (a reset after a theft) sends nothing more */
	bool by_password;
	unsigned char password_stamp[ACCOUNT_STAMP_SIZE];
	/* the login used a certificate, the account's fingerprints' digest being cert_stamp
	 * then: a certificate replaced since (mssctl account set-cert) sends nothing more */
	bool by_cert;
	unsigned char cert_stamp[ACCOUNT_STAMP_SIZE];
	char peer_ip[64];
	char tls_subject_dn[512]; /* verified peer certificate subject DN, "" when none */
	char listener[32];        /* "smtp", "submission", "submissions" */
	char spf_domain[256];     /* SENDER_RELAY_SPF: the domain SPF passed for */
	/* SENDER_OPERATOR: the MAIL FROM domain the trust list listed for tls_subject_dn
	 * when this transaction's MAIL was accepted (identity_check_mail), "" before. RCPT
	 * and the header ask the same question again: the answer is taken from here, not
	 * from the database (one query and two DN canonicalisations less each). mss-smtpd
	 * fills this struct afresh at every MAIL, so a change to the trust list counts
	 * from the next transaction on, never later. */
	char listed_domain[256];
	/* The sender identity's account and directory entry, read once at MAIL
	 * (sender_rows.h) for the questions the transaction asks of them again (MAIL,
	 * RCPT, the header, the delivery's records). Filled afresh at every MAIL, as
	 * above: a change counts from the next transaction on. */
	struct sender_rows {
		char address[256]; /* whose rows these are; "" when none were read */
		int account_rc;    /* account_get's answer: 1 found, 0 none */
		struct account account;
		int dir_rc; /* dir_entry_get's: 1 found, 0 none */
		struct dir_entry dir;
	} rows;
};

/* The fixed word the audit log records for a, "unknown" when out of range. */
const char *policy_auth_name(enum sender_auth a);

#endif

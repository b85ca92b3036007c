/* policy_rules.h: the conversation rules as one pure function over plain facts.
 *
 * policy.c gathers the facts of a (sender, how authenticated, MAIL FROM, RCPT) question
 * from the database and configuration, then asks policy_decide(); the decision itself
 * touches nothing, so every combination of roles and states is tested as a table.
 * What is configuration (pharmacy profession codes, local domains) arrives as facts;
 * what is the law of the service (who may start a conversation with a patient) is here. */
#ifndef MSS_POLICY_RULES_H
#define MSS_POLICY_RULES_H

#include <stdbool.h>

#include "lib/config.h"
#include "lib/status.h"
#include "policy/policy.h"

enum rcpt_place {
	RCPT_LOCAL = 0, /* a domain served here (domains or patient_domain) */
	RCPT_TRUST,     /* another operator's domain on the trust list */
	RCPT_OUTSIDE,   /* anything else */
};

enum contact_state { CONTACT_NONE = 0, CONTACT_OPEN, CONTACT_CLOSED };

struct policy_facts {
	enum sender_auth auth;
	/* the sender */
	bool sender_proven;       /* identity established (login, certificate, listed operator, relay) */
	bool sender_patient;      /* a local patient account */
	bool sender_local_pro;    /* a local professional or organisation account, enabled */
	bool sender_dir_active;   /* an active entry of the national directory */
	bool sender_dir_inactive; /* a directory entry the administrator made inactive */
	/* the recipient */
	enum rcpt_place place;
	bool rcpt_exists;         /* local: an enabled account */
	bool rcpt_patient;        /* local: a patient account */
	bool rcpt_pharmacy;       /* an active ORG entry whose profession code is a pharmacy's */
	bool rcpt_patient_domain; /* local, in patient_domain (whether or not such a patient exists) */
	/* between them */
	bool blocked;               /* the recipient patient has blocked the sender */
	bool rcpt_self;             /* the sender patient writes to their own address (a profile
	                               section: vault_profile_mail, checked at DATA) */
	enum contact_state contact; /* the sender patient's contact state with the recipient */
	/* what this server can do */
	bool relay_supported; /* outbound delivery to other operators exists */
};

struct policy_verdict {
	struct mss_status st; /* code 0 = accepted */
	const char *reason;   /* short fixed word for the audit record, e.g. "patient-to-patient" */
};

/* Decides one RCPT. Returns 0 accepted, 1 refused (v->st says how); v->reason always set. */
int policy_decide(const struct policy_facts *f, struct policy_verdict *v);

/* Gathers the facts of one RCPT question from st (accounts, directory, trust list,
 * blocks, contacts) and its configuration. Returns 0 or -1 on a database error. */
int policy_rcpt_facts(struct store *st, const struct policy_sender *s, const char *mail_from,
                      const char *rcpt, struct policy_facts *f);

#endif

/* test_policy_rules.c: the conversation rules as a table: every pair of sender role
 * and recipient role, with each state that matters (blocked, contact open or closed,
 * pharmacy, directory entry active or not), and the decision and code expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_rules.h"

/* Sender kinds. */
enum who {
	PATIENT,      /* local patient, password */
	PRO,          /* local professional account, certificate */
	ORG,          /* local organisation account, certificate */
	DIR_REMOTE,   /* remote professional via a listed operator, active directory entry */
	DIR_INACTIVE, /* remote professional via a listed operator, inactive entry */
	TRUST_ONLY,   /* remote address via a listed operator, not in the directory */
	ANON,         /* nothing proven */
	RELAY,        /* establishment relay by certificate, for a local professional */
	PRO_INACTIVE, /* local professional account whose directory entry was made inactive */
	TOKEN,        /* local professional logged in with an OAuth token */
};

/* Recipient kinds. */
enum to {
	TO_PATIENT,
	TO_PRO,
	TO_PHARMACY,   /* local organisation the directory marks as a pharmacy */
	TO_UNKNOWN,    /* local domain, no such mailbox */
	TO_NO_PATIENT, /* patient domain, no such patient */
	TO_REMOTE,     /* other operator's domain on the trust list */
	TO_OUTSIDE,    /* not in the trust space */
};

struct row {
	enum who who;
	enum to to;
	bool blocked;
	enum contact_state contact;
	int rc;
	int code;
	const char *enhanced;
	const char *reason;
};

static void facts_of(const struct row *r, struct policy_facts *f)
{
	memset(f, 0, sizeof *f);
	static const enum sender_auth auths[] = {
	    [PATIENT] = SENDER_PASSWORD,         [PRO] = SENDER_CERTIFICATE,
	    [ORG] = SENDER_CERTIFICATE,          [DIR_REMOTE] = SENDER_OPERATOR,
	    [DIR_INACTIVE] = SENDER_OPERATOR,    [TRUST_ONLY] = SENDER_OPERATOR,
	    [ANON] = SENDER_ANONYMOUS,           [RELAY] = SENDER_RELAY_CERT,
	    [PRO_INACTIVE] = SENDER_CERTIFICATE, [TOKEN] = SENDER_TOKEN,
	};
	f->auth = auths[r->who];
	f->sender_proven = r->who != ANON;
	f->sender_patient = r->who == PATIENT;
	f->sender_local_pro =
	    r->who == PRO || r->who == ORG || r->who == RELAY || r->who == PRO_INACTIVE || r->who == TOKEN;
	f->sender_dir_active = r->who == DIR_REMOTE || r->who == PRO || r->who == TOKEN;
	f->sender_dir_inactive = r->who == DIR_INACTIVE || r->who == PRO_INACTIVE;
	f->place = r->to == TO_REMOTE ? RCPT_TRUST : r->to == TO_OUTSIDE ? RCPT_OUTSIDE : RCPT_LOCAL;
	f->rcpt_exists = r->to == TO_PATIENT || r->to == TO_PRO || r->to == TO_PHARMACY;
	f->rcpt_patient = r->to == TO_PATIENT;
	f->rcpt_pharmacy = r->to == TO_PHARMACY;
	f->rcpt_patient_domain = r->to == TO_PATIENT || r->to == TO_NO_PATIENT;
	f->blocked = r->blocked;
	f->contact = r->contact;
}

#define OK(who, to, reason)                                                                                  \
	{                                                                                                    \
		who, to, false, CONTACT_NONE, 0, 0, "", reason                                               \
	}
#define NO(who, to, code, enh, reason)                                                                       \
	{                                                                                                    \
		who, to, false, CONTACT_NONE, 1, code, enh, reason                                           \
	}

static const struct row rows[] = {
    /* to a patient: approved senders only, not blocked, never another patient */
    OK(PRO, TO_PATIENT, "approved-sender"),
    OK(ORG, TO_PATIENT, "approved-sender"),
    OK(DIR_REMOTE, TO_PATIENT, "approved-sender"),
    OK(RELAY, TO_PATIENT, "approved-sender"),
    NO(DIR_INACTIVE, TO_PATIENT, 550, "5.7.1", "directory-inactive"),
    /* issue 10: a local account does not outweigh its inactive directory entry */
    NO(PRO_INACTIVE, TO_PATIENT, 550, "5.7.1", "directory-inactive"),
    OK(TOKEN, TO_PATIENT, "approved-sender"),
    NO(TOKEN, TO_OUTSIDE, 550, "5.7.1", "outside-trust-space"),
    NO(TRUST_ONLY, TO_PATIENT, 550, "5.7.1", "not-approved"),
    NO(ANON, TO_PATIENT, 550, "5.7.1", "sender-unproven"),
    NO(PATIENT, TO_PATIENT, 550, "5.7.1", "patient-to-patient"),
    {PRO, TO_PATIENT, true, CONTACT_NONE, 1, 550, "5.7.1", "blocked"},
    {DIR_REMOTE, TO_PATIENT, true, CONTACT_NONE, 1, 550, "5.7.1", "blocked"},
    {ORG, TO_PATIENT, true, CONTACT_NONE, 1, 550, "5.7.1", "blocked"},
    {PATIENT, TO_PATIENT, false, CONTACT_OPEN, 1, 550, "5.7.1", "patient-to-patient"},
    /* a patient writes to a professional: reply to a contact, until FIN */
    {PATIENT, TO_PRO, false, CONTACT_OPEN, 0, 0, "", "authorised-contact"},
    {PATIENT, TO_PRO, false, CONTACT_CLOSED, 1, 550, "5.7.1", "exchange-closed"},
    NO(PATIENT, TO_PRO, 550, "5.7.1", "no-contact"),
    /* ... or to a pharmacy first */
    OK(PATIENT, TO_PHARMACY, "pharmacy"),
    {PATIENT, TO_PHARMACY, false, CONTACT_CLOSED, 0, 0, "", "pharmacy"},
    /* professionals among themselves */
    OK(PRO, TO_PRO, "professional-exchange"),
    OK(ORG, TO_PRO, "professional-exchange"),
    OK(DIR_REMOTE, TO_PRO, "professional-exchange"),
    OK(TRUST_ONLY, TO_PRO, "professional-exchange"),
    OK(DIR_INACTIVE, TO_PRO, "professional-exchange"),
    OK(RELAY, TO_PHARMACY, "professional-exchange"),
    NO(ANON, TO_PRO, 550, "5.7.1", "sender-unproven"),
    /* unknown local mailbox, for everyone */
    NO(PRO, TO_UNKNOWN, 550, "5.1.1", "no-mailbox"),
    NO(PATIENT, TO_UNKNOWN, 550, "5.1.1", "no-mailbox"),
    NO(DIR_REMOTE, TO_UNKNOWN, 550, "5.1.1", "no-mailbox"),
    NO(ANON, TO_UNKNOWN, 550, "5.7.1", "sender-unproven"),
    /* no patient address probing: who may not write to an existing patient gets the same
     * reply for one that does not exist; approved professionals learn it is wrong */
    NO(PATIENT, TO_NO_PATIENT, 550, "5.7.1", "patient-to-patient"),
    NO(TRUST_ONLY, TO_NO_PATIENT, 550, "5.7.1", "not-approved"),
    NO(DIR_INACTIVE, TO_NO_PATIENT, 550, "5.7.1", "directory-inactive"),
    NO(ANON, TO_NO_PATIENT, 550, "5.7.1", "sender-unproven"),
    NO(PRO, TO_NO_PATIENT, 550, "5.1.1", "no-mailbox"),
    NO(DIR_REMOTE, TO_NO_PATIENT, 550, "5.1.1", "no-mailbox"),
    /* elsewhere: never outside the trust space; no relay for peers */
    NO(PRO, TO_OUTSIDE, 550, "5.7.1", "outside-trust-space"),
    NO(PATIENT, TO_OUTSIDE, 550, "5.7.1", "outside-trust-space"),
    {PATIENT, TO_OUTSIDE, false, CONTACT_OPEN, 1, 550, "5.7.1", "outside-trust-space"},
    NO(PATIENT, TO_REMOTE, 550, "5.7.1", "no-contact"),
    {PATIENT, TO_REMOTE, false, CONTACT_CLOSED, 1, 550, "5.7.1", "exchange-closed"},
    {PATIENT, TO_REMOTE, false, CONTACT_OPEN, 1, 550, "5.7.1", "relay-unsupported"},
    NO(PRO, TO_REMOTE, 550, "5.7.1", "relay-unsupported"),
    NO(DIR_REMOTE, TO_REMOTE, 550, "5.7.1", "relay-denied"),
    NO(DIR_REMOTE, TO_OUTSIDE, 550, "5.7.1", "relay-denied"),
    NO(ANON, TO_REMOTE, 550, "5.7.1", "relay-denied"),
};

static void test_rules_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct policy_facts f;
		struct policy_verdict v;
		facts_of(&rows[i], &f);
		int rc = policy_decide(&f, &v);
		if (rc != rows[i].rc || v.st.code != rows[i].code ||
		    strcmp(v.st.enhanced, rows[i].enhanced) != 0 || strcmp(v.reason, rows[i].reason) != 0)
			fail_msg("row %zu: got rc=%d %d %s %s, want rc=%d %d %s %s", i, rc, v.st.code,
			         v.st.enhanced, v.reason, rows[i].rc, rows[i].code, rows[i].enhanced,
			         rows[i].reason);
		if (rc != 0 && v.st.text[0] == '\0')
			fail_msg("row %zu: refusal without text", i);
	}
}

/* With outbound delivery available, a patient's reply to a remote contact goes out. */
static void test_relay_supported(void **state)
{
	(void)state;
	struct row r = {PATIENT, TO_REMOTE, false, CONTACT_OPEN, 0, 0, "", "authorised-contact"};
	struct policy_facts f;
	struct policy_verdict v;
	facts_of(&r, &f);
	f.relay_supported = true;
	assert_int_equal(policy_decide(&f, &v), 0);
	assert_string_equal(v.reason, "authorised-contact");
	r.who = PRO;
	facts_of(&r, &f);
	f.relay_supported = true;
	assert_int_equal(policy_decide(&f, &v), 0);
	assert_string_equal(v.reason, "trust-space");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules_table),
	    cmocka_unit_test(test_relay_supported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* policy_rules.c: who may write to whom (DESIGN.md "Addresses and rules"). */
#include "policy/policy_rules.h"

#include <string.h>

#include "lib/str.h"

/* Every refusal of the rules: one row, so codes and texts cannot drift apart. */
enum refusal {
	R_NO_MAILBOX,
	R_UNPROVEN,
	R_RELAY_DENIED,
	R_OUTSIDE,
	R_RELAY_UNSUPPORTED,
	R_PATIENT_TO_PATIENT,
	R_BLOCKED,
	R_INACTIVE,
	R_NOT_APPROVED,
	R_CLOSED,
	R_NO_CONTACT,
};

static const struct {
	int code;
	const char *enhanced;
	const char *reason;
	const char *text;
} refusals[] = {
    [R_NO_MAILBOX] = {550, "5.1.1", "no-mailbox", "no such mailbox here"},
    [R_UNPROVEN] = {550, "5.7.1", "sender-unproven",
                    "sender not authenticated: only the health trust space may write here"},
    [R_RELAY_DENIED] = {550, "5.7.1", "relay-denied", "relay denied: recipient is not served here"},
    [R_OUTSIDE] = {550, "5.7.1", "outside-trust-space", "recipient domain is not in the health trust list"},
    [R_RELAY_UNSUPPORTED] = {550, "5.7.1", "relay-unsupported",
                             "delivery to other operators is not available from this server"},
    [R_PATIENT_TO_PATIENT] = {550, "5.7.1", "patient-to-patient", "patients cannot write to patients"},
    [R_BLOCKED] = {550, "5.7.1", "blocked", "the patient has blocked this sender"},
    [R_INACTIVE] = {550, "5.7.1", "directory-inactive", "sender's directory entry is not active"},
    [R_NOT_APPROVED] = {550, "5.7.1", "not-approved",
                        "only approved professionals may start a conversation with a patient"},
    [R_CLOSED] = {550, "5.7.1", "exchange-closed", "this professional has closed the exchange"},
    [R_NO_CONTACT] = {550, "5.7.1", "no-contact",
                      "patients may only reply to professionals who wrote to them, or write to a pharmacy"},
};

static int refuse(struct policy_verdict *v, enum refusal r)
{
	v->st.code = refusals[r].code;
	str_assert(str_copy(v->st.enhanced, sizeof(v->st.enhanced), refusals[r].enhanced),
	           "the table's codes are \"5.7.1\", into 12 bytes");
	str_assert(str_copy(v->st.text, sizeof(v->st.text), refusals[r].text),
	           "the table's sentences are under 100 bytes, into 256");
	v->reason = refusals[r].reason;
	return 1;
}

static int accept(struct policy_verdict *v, const char *reason)
{
	memset(&v->st, 0, sizeof(v->st));
	v->reason = reason;
	return 0;
}

/* A patient writes: a pharmacy, or a professional who wrote first and has not closed. */
static int patient_writes(const struct policy_facts *f, struct policy_verdict *v)
{
	if (f->rcpt_patient && f->rcpt_self) /* only a profile section passes DATA */
		return accept(v, "self");
	if (f->rcpt_patient)
		return refuse(v, R_PATIENT_TO_PATIENT);
	if (f->rcpt_pharmacy)
		return accept(v, "pharmacy");
	if (f->contact == CONTACT_OPEN)
		return accept(v, "authorised-contact");
	if (f->contact == CONTACT_CLOSED)
		return refuse(v, R_CLOSED);
	return refuse(v, R_NO_CONTACT);
}

/* Someone else writes to a patient: only approved senders the patient has not blocked. */
static int to_patient(const struct policy_facts *f, struct policy_verdict *v)
{
	if (f->blocked)
		return refuse(v, R_BLOCKED);
	/* An inactive directory entry outweighs a local account: the administrator's
	 * decision to disable the entry holds (issue 10). */
	if (f->sender_dir_inactive)
		return refuse(v, R_INACTIVE);
	if (f->sender_local_pro || f->sender_dir_active)
		return accept(v, "approved-sender");
	return refuse(v, R_NOT_APPROVED);
}

/* The recipient is elsewhere: only our own authenticated users may send out, only into
 * the trust space, and a patient only to a contact or a pharmacy. */
static int to_remote(const struct policy_facts *f, struct policy_verdict *v)
{
	bool local_user = f->auth == SENDER_PASSWORD || f->auth == SENDER_CERTIFICATE ||
	                  f->auth == SENDER_TOKEN || f->auth == SENDER_RELAY_CERT;
	if (!local_user || !f->sender_proven)
		return refuse(v, R_RELAY_DENIED);
	if (f->place == RCPT_OUTSIDE)
		return refuse(v, R_OUTSIDE);
	if (f->sender_patient && patient_writes(f, v) != 0)
		return 1;
	if (!f->relay_supported)
		return refuse(v, R_RELAY_UNSUPPORTED);
	return accept(v, f->sender_patient ? v->reason : "trust-space");
}

int policy_decide(const struct policy_facts *f, struct policy_verdict *v)
{
	if (f->place != RCPT_LOCAL)
		return to_remote(f, v);
	/* Unproven first: an anonymous peer learns nothing, not even which mailboxes exist. */
	if (!f->sender_proven)
		return refuse(v, R_UNPROVEN);
	/* Nor does a sender who may not write to a patient: an address in the patient domain
	 * gets the refusal an existing patient would, so patients' addresses cannot be
	 * probed. An approved professional may learn that an address is wrong. */
	if (f->rcpt_patient_domain && !f->rcpt_exists) {
		if (f->sender_patient)
			return refuse(v, R_PATIENT_TO_PATIENT);
		if (!f->sender_local_pro && !f->sender_dir_active)
			return refuse(v, f->sender_dir_inactive ? R_INACTIVE : R_NOT_APPROVED);
	}
	if (!f->rcpt_exists)
		return refuse(v, R_NO_MAILBOX);
	if (f->sender_patient)
		return patient_writes(f, v);
	if (f->rcpt_patient)
		return to_patient(f, v);
	return accept(v, "professional-exchange");
}

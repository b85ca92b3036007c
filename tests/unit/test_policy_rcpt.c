/* test_policy_rcpt.c: the policy through its database-level entry points, as a table:
 * (how authenticated, account, certificate DN, MAIL FROM, RCPT) -> decision and code,
 * on a database holding real accounts, directory entries, trust list, blocks and
 * contacts. Also: authorised contacts from message headers, and the audit records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "directory/directory_import.h"
#include "directory/schema.h"
#include "directory/trust.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "test_db_util.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "audit/audit_schema.h"
#include "msg/msg.h"
#include "policy/contacts.h"
#include "policy/policy.h"
#include "policy/policy_rules.h"
#include "policy/policy_schema.h"
#include "vault/vault_access.h"
#include "vault/vault_schema.h"

#define PAT "146026322000196@patient.mss.test"
#define PAT2 "279035121518989@patient.mss.test"
#define OP_DN "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
#define BAD_DN "CN=mx.evil.test,O=Evil,C=FR"

static char dir[300];
static struct store *store;
static struct test_data td;
static const struct vault_actor admin = {"mssctl", "local", ""};

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void add_account(const char *address, enum account_role role)
{
	struct account a;
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(a.address, sizeof a.address, address), 0);
	a.role = role;
	char err[256];
	if (account_add(store, &a, NULL, NULL, err, sizeof err) != 0)
		fail_msg("account_add %s: %s", address, err);
}

static void load_directory(void)
{
	char path[128], err[256];
	assert_int_equal(str_format(path, sizeof path, "%s/dir.csv", dir), 0);
	write_file(
	    path,
	    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Type identifiant structure|"
	    "Identification Structure|Nom d'exercice|Prénom d'exercice|Code Profession|Libellé Profession\n"
	    "PER|dr.remote@other-operator.test|8|10001|1|1|REMOTE|Rémi|10|Médecin\n"
	    "PER|dr.inactive@other-operator.test|8|10002|1|1|INACTIVE|Ina|10|Médecin\n"
	    "ORG|pharma@other-operator.test|||3|2|Pharmacie||21|Pharmacien\n"
	    "ORG|pharmacie@pro.mss.test|||3|3|Pharmacie||21|Pharmacien\n"
	    "ORG|labo@pro.mss.test|||3|4|Labo||39|Biologiste\n"
	    "PER|dr.martin@pro.mss.test|8|10003|1|1|MARTIN|Jean|10|Médecin\n");
	struct dir_import_result r;
	if (directory_import(store, path, true, &r, err, sizeof err) != 0)
		fail_msg("directory import: %s (%s)", err, r.nbad_kept ? r.bad_lines[0].why : "");
	assert_int_equal(dir_entry_set_active(store, "dr.inactive@other-operator.test", false), 0);
	assert_int_equal(str_format(path, sizeof path, "%s/trust.xml", dir), 0);
	write_file(path,
	           "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\"><ListeDomaines>"
	           "<Domaine><Nom>other-operator.test</Nom><DNCertificatOperateur>" OP_DN
	           "</DNCertificatOperateur></Domaine>"
	           "<Domaine><Nom>third.test</Nom><DNCertificatOperateur>CN=mx.third.test,C=FR"
	           "</DNCertificatOperateur></Domaine></ListeDomaines></ListeBlancheMSSante>");
	struct trust_import_result tr;
	assert_int_equal(trust_import(store, path, &tr, err, sizeof err), 0);
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	const struct sql_schema *parts[] = {&directory_schema, &directory_entries_schema, &audit_schema,
	                                    &vault_schema, &policy_schema};
	if (crypto_init() < 0 || test_data_init(&td, "mss-test-policy") != 0)
		return -1;
	assert_int_equal(str_copy(dir, sizeof dir, td.dir), 0);
	if (config_set(&td.cfg, "domains", "pro.mss.test", err, sizeof err) < 0 ||
	    config_set(&td.cfg, "patient_domain", "patient.mss.test", err, sizeof err) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	if (test_data_open(&td, parts, 5) != 0 || audit_start_log(td.st, err, sizeof err) != 0)
		return -1;
	store = td.st;
	add_account(PAT, ROLE_PATIENT);
	add_account(PAT2, ROLE_PATIENT);
	add_account("dr.martin@pro.mss.test", ROLE_PROFESSIONAL);
	add_account("dr.durand@pro.mss.test", ROLE_PROFESSIONAL);
	add_account("dr.off@pro.mss.test", ROLE_PROFESSIONAL);
	add_account("labo@pro.mss.test", ROLE_ORGANISATION);
	add_account("pharmacie@pro.mss.test", ROLE_ORGANISATION);
	assert_int_equal(account_disable(store, "dr.off@pro.mss.test", err, sizeof err), 0);
	load_directory();
	assert_int_equal(vault_access_block(store, &admin, PAT, "dr.durand@pro.mss.test", err, sizeof err),
	                 0);
	assert_int_equal(vault_access_block(store, &admin, PAT, "Dr.Durand@pro.mss.test", err, sizeof err),
	                 0);
	assert_int_equal(contacts_record(store, PAT, "dr.martin@pro.mss.test", false), 1);
	assert_int_equal(contacts_record(store, PAT, "labo@pro.mss.test", true), 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_data_close(&td);
	return 0;
}

struct row {
	enum sender_auth auth;
	const char *account;
	const char *dn;
	const char *listener;
	const char *mail_from;
	const char *rcpt; /* NULL: a MAIL FROM row */
	int rc;
	int code;
	const char *enhanced;
};

#define A_PW SENDER_PASSWORD
#define A_CERT SENDER_CERTIFICATE
#define A_OP SENDER_OPERATOR
#define A_ANON SENDER_ANONYMOUS
#define A_RCERT SENDER_RELAY_CERT
#define A_RSPF SENDER_RELAY_SPF

static const struct row rows[] = {
    /* MAIL FROM: a sender using an address that is not theirs is refused */
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", NULL, 0, 0, ""},
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "DR.MARTIN@pro.mss.test", NULL, 0, 0, ""},
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "", NULL, 0, 0, ""},
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.durand@pro.mss.test", NULL, 1, 550, "5.7.1"},
    {A_PW, PAT, "", "submission", PAT2, NULL, 1, 550, "5.7.1"},
    {A_PW, "", "", "submission", PAT, NULL, 1, 530, "5.7.0"},
    {A_OP, "", OP_DN, "smtp", "dr.remote@other-operator.test", NULL, 0, 0, ""},
    {A_OP, "", "cn=MX.other-operator.test, ou=12345678900011, o=Other  Operator, c=FR", "smtp",
     "dr.remote@Other-Operator.test", NULL, 0, 0, ""},
    {A_OP, "", OP_DN, "smtp", "", NULL, 0, 0, ""},
    {A_OP, "", BAD_DN, "smtp", "dr.remote@other-operator.test", NULL, 1, 550, "5.7.1"},
    {A_OP, "", BAD_DN, "smtp", "", NULL, 1, 550, "5.7.1"},
    {A_OP, "", "CN=mx.third.test,C=FR", "smtp", "dr.remote@other-operator.test", NULL, 1, 550, "5.7.1"},
    {A_OP, "", OP_DN, "smtp", "dr.martin@pro.mss.test", NULL, 1, 550, "5.7.1"},
    {A_OP, "", OP_DN, "smtp", PAT, NULL, 1, 550, "5.7.1"},
    {A_ANON, "", "", "smtp", "someone@example.org", NULL, 1, 550, "5.7.1"},
    {A_ANON, "", "", "submission", "someone@example.org", NULL, 1, 530, "5.7.0"},
    /* issue 10: a relay's certificate speaks for its own organisation account only */
    {A_RCERT, "labo@pro.mss.test", "", "smtp", "dr.martin@pro.mss.test", NULL, 1, 550, "5.7.1"},
    {A_RCERT, "labo@pro.mss.test", "", "smtp", "labo@pro.mss.test", NULL, 0, 0, ""},
    {A_RCERT, "labo@pro.mss.test", "", "smtp", "", NULL, 0, 0, ""},
    {A_RCERT, "labo@pro.mss.test", "", "smtp", PAT, NULL, 1, 550, "5.7.1"},
    {A_RSPF, "", "", "smtp", "secretariat@hospital.test", NULL, 0, 0, ""},
    {A_RSPF, "", "", "smtp", PAT, NULL, 1, 550, "5.7.1"},
    {A_RSPF, "", "", "smtp", "dr.martin@pro.mss.test", NULL, 1, 550, "5.7.1"},
    {A_RSPF, "", "", "smtp", "dr.inactive@other-operator.test", NULL, 1, 550, "5.7.1"},
    /* a disabled account sends nothing, whatever its session proved earlier */
    {A_CERT, "dr.off@pro.mss.test", "", "submission", "dr.off@pro.mss.test", NULL, 1, 550, "5.7.1"},
    {A_CERT, "dr.off@pro.mss.test", "", "submission", "", NULL, 1, 550, "5.7.1"},
    {SENDER_TOKEN, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", NULL, 0, 0, ""},
    {SENDER_TOKEN, "dr.martin@pro.mss.test", "", "submission", "dr.durand@pro.mss.test", NULL, 1, 550,
     "5.7.1"},

    /* RCPT: professional to patient, blocked professional, disabled account */
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", PAT, 0, 0, ""},
    {A_CERT, "labo@pro.mss.test", "", "submission", "labo@pro.mss.test", PAT, 0, 0, ""},
    {A_CERT, "dr.durand@pro.mss.test", "", "submission", "dr.durand@pro.mss.test", PAT, 1, 550, "5.7.1"},
    {A_CERT, "dr.durand@pro.mss.test", "", "submission", "dr.durand@pro.mss.test", PAT2, 0, 0, ""},
    {A_CERT, "dr.off@pro.mss.test", "", "submission", "dr.off@pro.mss.test", PAT, 1, 550, "5.7.1"},
    /* patient to patient, reply to contact, after FIN, no contact, pharmacy */
    {A_PW, PAT, "", "submission", PAT, PAT2, 1, 550, "5.7.1"},
    /* to oneself: RCPT passes, DATA refuses all but a profile section (policy_deliver) */
    {A_PW, PAT, "", "submission", PAT, PAT, 0, 0, ""},
    {A_PW, PAT, "", "submission", PAT, "Dr.Martin@pro.mss.test", 0, 0, ""},
    {A_PW, PAT, "", "submission", PAT, "labo@pro.mss.test", 1, 550, "5.7.1"},
    {A_PW, PAT, "", "submission", PAT, "dr.durand@pro.mss.test", 1, 550, "5.7.1"},
    {A_PW, PAT2, "", "submission", PAT2, "dr.martin@pro.mss.test", 1, 550, "5.7.1"},
    {A_PW, PAT, "", "submission", PAT, "pharmacie@pro.mss.test", 0, 0, ""},
    {A_PW, PAT2, "", "submission", PAT2, "pharmacie@pro.mss.test", 0, 0, ""},
    {A_PW, PAT, "", "submission", PAT, "nobody@pro.mss.test", 1, 550, "5.1.1"},
    /* a patient cannot tell which patient addresses exist: as for an existing one */
    {A_PW, PAT, "", "submission", PAT, "nobody@patient.mss.test", 1, 550, "5.7.1"},
    {A_PW, PAT, "", "submission", PAT, "friend@example.org", 1, 550, "5.7.1"},
    {A_PW, PAT, "", "submission", PAT, "dr.remote@other-operator.test", 1, 550, "5.7.1"},
    /* operators: listed, directory active / inactive / absent */
    {A_OP, "", OP_DN, "smtp", "dr.remote@other-operator.test", PAT, 0, 0, ""},
    {A_OP, "", OP_DN, "smtp", "dr.inactive@other-operator.test", PAT, 1, 550, "5.7.1"},
    {A_OP, "", OP_DN, "smtp", "unknown@other-operator.test", PAT, 1, 550, "5.7.1"},
    {A_OP, "", OP_DN, "smtp", "unknown@other-operator.test", "dr.martin@pro.mss.test", 0, 0, ""},
    {A_OP, "", OP_DN, "smtp", "dr.remote@other-operator.test", "nobody@pro.mss.test", 1, 550, "5.1.1"},
    {A_OP, "", OP_DN, "smtp", "dr.remote@other-operator.test", "x@third.test", 1, 550, "5.7.1"},
    {A_OP, "", BAD_DN, "smtp", "dr.remote@other-operator.test", "dr.martin@pro.mss.test", 1, 550, "5.7.1"},
    {A_ANON, "", "", "smtp", "someone@example.org", "dr.martin@pro.mss.test", 1, 550, "5.7.1"},
    {A_ANON, "", "", "smtp", "someone@example.org", "nobody@pro.mss.test", 1, 550, "5.7.1"},
    /* relays */
    {A_RCERT, "labo@pro.mss.test", "", "smtp", "dr.martin@pro.mss.test", PAT, 0, 0, ""},
    {A_RSPF, "", "", "smtp", "dr.remote@other-operator.test", PAT, 0, 0, ""},
    {A_RSPF, "", "", "smtp", "secretariat@hospital.test", PAT, 1, 550, "5.7.1"},
    /* professionals: among themselves, never outside the trust space */
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", "dr.durand@pro.mss.test",
     0, 0, ""},
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", "dr.off@pro.mss.test", 1,
     550, "5.1.1"},
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", "x@example.org", 1, 550,
     "5.7.1"},
    /* into the trust space through the outbound queue (issue 13) */
    {A_CERT, "dr.martin@pro.mss.test", "", "submission", "dr.martin@pro.mss.test", "x@other-operator.test", 0,
     0, ""},
};

static int64_t audit_count(void)
{
	return test_sql_int(store, "SELECT count(*) FROM audit_log");
}

static void test_policy_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct policy_sender s;
		memset(&s, 0, sizeof s);
		s.auth = r->auth;
		assert_int_equal(str_copy(s.account, sizeof s.account, r->account), 0);
		assert_int_equal(str_copy(s.tls_subject_dn, sizeof s.tls_subject_dn, r->dn), 0);
		assert_int_equal(str_copy(s.listener, sizeof s.listener, r->listener), 0);
		assert_int_equal(str_copy(s.peer_ip, sizeof s.peer_ip, "127.0.0.1"), 0);
		/* an SPF relay row stands for an SPF pass of its MAIL FROM domain */
		if (r->auth == SENDER_RELAY_SPF)
			assert_int_equal(
			    str_copy(s.spf_domain, sizeof s.spf_domain, str_address_domain(r->mail_from)), 0);
		struct mss_status st;
		memset(&st, 0, sizeof st);
		int64_t before = audit_count();
		int rc = r->rcpt ? policy_check_rcpt(store, &s, r->mail_from, r->rcpt, NULL, &st)
		                 : policy_check_mail(store, &s, r->mail_from, &st);
		if (rc != r->rc || st.code != r->code || strcmp(st.enhanced, r->enhanced) != 0)
			fail_msg("row %zu (%s -> %s): got rc=%d %d %s \"%s\", want rc=%d %d %s", i,
			         r->mail_from, r->rcpt ? r->rcpt : "MAIL", rc, st.code, st.enhanced, st.text,
			         r->rc, r->code, r->enhanced);
		/* a refusal is recorded before its answer; an acceptance is kept for the
		 * delivery's commit, or written when the transaction ends (audit_flush) */
		if (st.code == 0 && (audit_count() != before || audit_deferred_count() != 1))
			fail_msg("row %zu: acceptance not kept for the delivery", i);
		char err[256];
		if (audit_flush(store, err, sizeof err) != 0 || audit_count() != before + 1)
			fail_msg("row %zu: decision not audited", i);
	}
}

static void test_audit_reason(void **state)
{
	(void)state;
	struct policy_sender s = {.auth = SENDER_PASSWORD};
	assert_int_equal(str_copy(s.account, sizeof s.account, PAT), 0);
	assert_int_equal(str_copy(s.listener, sizeof s.listener, "submission"), 0);
	struct mss_status st;
	assert_int_equal(policy_check_rcpt(store, &s, PAT, PAT2, NULL, &st), 1);
	char err[256];
	struct sql_stmt *q = sql_query(store_sql(store), "test",
	                               "SELECT action, target, detail, result, patient FROM audit_log "
	                               "ORDER BY seq DESC LIMIT 1",
	                               SQL_NOARGS, err, sizeof err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, err, sizeof err), 1);
	assert_string_equal(sql_text(q, 0), "smtp.rcpt");
	assert_string_equal(sql_text(q, 1), PAT2);
	assert_non_null(strstr(sql_text(q, 2), "reason=patient-to-patient"));
	assert_non_null(strstr(sql_text(q, 3), "refused: 550 5.7.1"));
	assert_string_equal(sql_text(q, 4), PAT2);
	sql_done(q);
}

struct msg_case {
	const char *msg;
	const char *contact;
	bool fin;
};

static void test_contact_from_headers(void **state)
{
	(void)state;
	static const struct msg_case cases[] = {
	    {"From: Dr Martin <dr.martin@pro.mss.test>\r\nSubject: hello\r\n\r\nbody\r\n",
	     "dr.martin@pro.mss.test", false},
	    {"From: dr.martin@pro.mss.test\r\nReply-To: Secretariat <secretariat@other-operator.test>\r\n"
	     "Subject: x\r\n\r\n",
	     "secretariat@other-operator.test", false},
	    {"From: dr.martin@pro.mss.test\r\nReply-To: someone@example.org\r\n\r\n",
	     "dr.martin@pro.mss.test", false},
	    {"From: dr.martin@pro.mss.test\r\nX-MSS-MES: FIN\r\n\r\n", "dr.martin@pro.mss.test", true},
	    {"From: dr.martin@pro.mss.test\r\nx-mss-mes:  fin \r\n\r\n", "dr.martin@pro.mss.test", true},
	    {"From: dr.martin@pro.mss.test\r\nSubject: [FIN]\r\n\r\n", "dr.martin@pro.mss.test", true},
	    {"From: dr.martin@pro.mss.test\r\nSubject: [fin]\r\n\r\n", "dr.martin@pro.mss.test", false},
	    {"From: dr.martin@pro.mss.test\r\nSubject: Re: [FIN]\r\n\r\n", "dr.martin@pro.mss.test", false},
	    {"From: dr.martin@pro.mss.test\r\nX-MSS-MES: SUITE\r\n\r\nX-MSS-MES: FIN\r\n",
	     "dr.martin@pro.mss.test", false},
	    {"From: dr.martin@pro.mss.test\n\nSubject: [FIN]\n", "dr.martin@pro.mss.test", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct contact_info info;
		struct msg m;
		char err[128];
		assert_int_equal(msg_parse(cases[i].msg, strlen(cases[i].msg), NULL, &m, err, sizeof err), 0);
		contacts_info_from_header(&m.h, &info);
		msg_free(&m);
		const char *c = contacts_reply_address(store, &info);
		if (strcmp(c, cases[i].contact) != 0 || info.fin != cases[i].fin)
			fail_msg("case %zu: contact %s fin %d, want %s %d", i, c, info.fin, cases[i].contact,
			         cases[i].fin);
	}
}

static void test_contact_states(void **state)
{
	(void)state;
	char err[256];
	enum contact_state cs;
	assert_int_equal(contacts_state(store, PAT2, "dr.durand@pro.mss.test", &cs), 0);
	assert_int_equal(cs, CONTACT_NONE);
	/* 1 when the exchange opens or ends (what the history records), 0 when its state
	 * stays */
	assert_int_equal(contacts_record(store, PAT2, "Dr.Durand@pro.mss.test", false), 1);
	assert_int_equal(contacts_state(store, PAT2, "dr.durand@PRO.mss.test", &cs), 0);
	assert_int_equal(cs, CONTACT_OPEN);
	assert_int_equal(contacts_record(store, PAT2, "dr.durand@pro.mss.test", false), 0);
	assert_int_equal(contacts_record_named(store, PAT2, "dr.durand@pro.mss.test"), 0);
	assert_int_equal(contacts_record(store, PAT2, "dr.durand@pro.mss.test", true), 1);
	assert_int_equal(contacts_state(store, PAT2, "dr.durand@pro.mss.test", &cs), 0);
	assert_int_equal(cs, CONTACT_CLOSED);
	assert_int_equal(contacts_record(store, PAT2, "dr.durand@pro.mss.test", true), 0);
	/* a third party naming it neither reopens it nor counts as a change */
	assert_int_equal(contacts_record_named(store, PAT2, "dr.durand@pro.mss.test"), 0);
	assert_int_equal(contacts_state(store, PAT2, "dr.durand@pro.mss.test", &cs), 0);
	assert_int_equal(cs, CONTACT_CLOSED);
	assert_int_equal(contacts_record_named(store, PAT2, "dr.other@pro.mss.test"), 1);
	assert_int_equal(contacts_record_named(store, PAT2, "dr.other@pro.mss.test"), 0);
	/* writing again reopens the exchange */
	assert_int_equal(contacts_record(store, PAT2, "dr.durand@pro.mss.test", false), 1);
	assert_int_equal(contacts_state(store, PAT2, "dr.durand@pro.mss.test", &cs), 0);
	assert_int_equal(cs, CONTACT_OPEN);
	assert_int_equal(contacts_record(store, PAT2, "not an address", false), -1);
	assert_int_equal(contacts_is_blocked(store, PAT, "DR.DURAND@pro.mss.test"), 1);
	assert_int_equal(vault_access_unblock(store, &admin, PAT, "dr.durand@pro.mss.test", err, sizeof err),
	                 0);
	assert_int_equal(contacts_is_blocked(store, PAT, "dr.durand@pro.mss.test"), 0);
	assert_int_equal(vault_access_block(store, &admin, PAT, "dr.durand@pro.mss.test", err, sizeof err),
	                 0);
}

/* A refusal's text from the vault (a profile section's, "Profile section not filed: "
 * and the vault's sentence, of no bounded length) longer than a reply holds is cut to
 * it, not a panic that would end the patient's session process. */
static void test_refusal_text_longer_than_a_reply_is_cut(void **state)
{
	(void)state;
	struct mss_status st;
	char text[600];
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	assert_int_equal(policy_refuse(&st, 550, "5.6.0", text), 1);
	assert_int_equal(st.code, 550);
	assert_string_equal(st.enhanced, "5.6.0");
	assert_int_equal(strlen(st.text), sizeof st.text - 1);
	assert_memory_equal(st.text, text, sizeof st.text - 1);
	assert_int_equal(policy_refuse(&st, 451, "4.3.0", "short"), -1);
	assert_string_equal(st.text, "short");
}

static char *last_delivery_patient(void)
{
	char err[256];
	struct sql_stmt *q = sql_query(store_sql(store), "test",
	                               "SELECT patient FROM audit_log WHERE action = 'smtp.deliver' "
	                               "ORDER BY seq DESC LIMIT 1",
	                               SQL_NOARGS, err, sizeof err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, err, sizeof err), 1);
	char *p = strdup(sql_text(q, 0) ? sql_text(q, 0) : "");
	sql_done(q);
	assert_non_null(p);
	return p;
}

/* The delivery takes each recipient's account as its RCPT read it (policy_check_rcpt's
 * row, policy_message.rcpt_rows), not from a second read: a patient disabled between
 * the RCPT and the end of DATA is delivered as the RCPT found her, her history
 * included; a change counts from the next transaction. Without rows (the committer's
 * deliveries) the delivery reads the account itself, and sees her disabled. */
static void test_delivery_takes_what_rcpt_read(void **state)
{
	(void)state;
	static const char body[] = "From: <dr.martin@pro.mss.test>\r\nTo: <" PAT2 ">\r\n"
	                           "Subject: compte rendu\r\nMessage-ID: <rows@pro.mss.test>\r\n\r\n"
	                           "Bonjour.\r\n";
	const char *pro = "dr.martin@pro.mss.test";
	struct policy_sender s = {.auth = SENDER_CERTIFICATE};
	assert_int_equal(str_copy(s.account, sizeof s.account, pro), 0);
	assert_int_equal(str_copy(s.listener, sizeof s.listener, "submission"), 0);
	assert_int_equal(str_copy(s.peer_ip, sizeof s.peer_ip, "127.0.0.1"), 0);
	struct policy_rcpt_row row, remote;
	struct mss_status st;
	char err[256];
	assert_int_equal(policy_check_mail(store, &s, pro, &st), 0);
	assert_int_equal(policy_check_rcpt(store, &s, pro, "x@other-operator.test", &remote, &st), 0);
	assert_int_equal(remote.rc, -1); /* not local: not read */
	assert_int_equal(policy_check_rcpt(store, &s, pro, PAT2, &row, &st), 0);
	assert_int_equal(row.rc, 1);
	assert_int_equal(row.role, ROLE_PATIENT);
	assert_false(row.disabled);
	assert_string_equal(row.address, PAT2);
	assert_int_equal(account_disable(store, PAT2, err, sizeof err), 0);
	const char *rcpts[] = {PAT2};
	struct policy_message m = {.sender = &s,
	                           .mail_from = pro,
	                           .rcpts = rcpts,
	                           .nrcpt = 1,
	                           .data = body,
	                           .len = sizeof body - 1,
	                           .queue_id = "ROWS1",
	                           .rcpt_rows = &row};
	assert_int_equal(policy_deliver(store, &m, &st), 0);
	char *p = last_delivery_patient();
	assert_string_equal(p, PAT2);
	free(p);
	m.rcpt_rows = NULL;
	m.queue_id = "ROWS2";
	assert_int_equal(policy_deliver(store, &m, &st), 0);
	p = last_delivery_patient();
	assert_string_equal(p, "");
	free(p);
	assert_int_equal(account_enable(store, PAT2, err, sizeof err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusal_text_longer_than_a_reply_is_cut),
	    cmocka_unit_test(test_policy_table),
	    cmocka_unit_test(test_audit_reason),
	    cmocka_unit_test(test_contact_from_headers),
	    cmocka_unit_test(test_contact_states),
	    cmocka_unit_test(test_delivery_takes_what_rcpt_read),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

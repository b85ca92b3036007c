/* bench_store.c: the database cost of the hot paths, measured on a real store
 * (not part of the test command: "make -C tests/unit bench_store && ./bench_store").
 *
 * Delivery: N messages from a professional to a patient through policy_check_rcpt and
 * policy_deliver (store, audit, contacts, vault filing; one fsync each). Reading:
 * SELECT of that INBOX and the cached metadata of every message, R times. Readers
 * (blob_keys, issue 12): N documents stored in the patient's Documents without and
 * then with a grant in force (one more seal each), the grant that seals the first N
 * to the professional, their metadata read by the professional with its own key and
 * by the patient, and the revocation. Prints wall and CPU time per operation: the CPU
 * figure is the one the SQL layer moves, wall time is mostly fsync. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "directory/account.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "store/store.h"
#include "vault/vault_access.h"

#define PATIENT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"

struct clock {
	struct timespec wall;
	struct rusage ru;
};

static void clock_start(struct clock *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->wall);
	getrusage(RUSAGE_SELF, &c->ru);
}

static double tv_us(const struct timeval *t)
{
	return t->tv_sec * 1e6 + t->tv_usec;
}

static void clock_report(const struct clock *c, const char *what, unsigned n)
{
	struct timespec now;
	struct rusage ru;
	clock_gettime(CLOCK_MONOTONIC, &now);
	getrusage(RUSAGE_SELF, &ru);
	double wall = (now.tv_sec - c->wall.tv_sec) * 1e6 + (now.tv_nsec - c->wall.tv_nsec) / 1e3;
	double cpu =
	    tv_us(&ru.ru_utime) - tv_us(&c->ru.ru_utime) + tv_us(&ru.ru_stime) - tv_us(&c->ru.ru_stime);
	printf("%-28s n=%-6u wall %8.1f us/op   cpu %8.1f us/op\n", what, n, wall / n, cpu / n);
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err);
	exit(1);
}

static struct store *setup(struct mss_config *cfg, char *dir)
{
	char err[512];
	struct account a;
	if (crypto_init() != 0 || mkdtemp(dir) == NULL)
		die("setup", "crypto or mkdtemp");
	config_defaults(cfg);
	str_assert(str_format(cfg->data_dir, sizeof cfg->data_dir, "%s/data", dir),
	           "test setup: constants and temporary paths that fit");
	str_assert(str_copy(cfg->patient_domain, sizeof cfg->patient_domain, "patient.mss.test"),
	           "test setup: constants and temporary paths that fit");
	str_assert(str_copy(cfg->domains, sizeof cfg->domains, "pro.mss.test"),
	           "test setup: constants and temporary paths that fit");
	if (store_create_data_dir(cfg, err, sizeof err) != 0)
		die("create", err);
	struct store *st = store_open(cfg, err, sizeof err);
	if (st == NULL || policy_schema_migrate(st, NULL, err, sizeof err) != 0)
		die("open", err);
	memset(&a, 0, sizeof a);
	str_assert(str_copy(a.address, sizeof a.address, PATIENT),
	           "test setup: constants and temporary paths that fit");
	a.role = ROLE_PATIENT;
	if (account_add(st, &a, NULL, NULL, err, sizeof err) != 0)
		die("patient", err);
	str_assert(str_copy(a.address, sizeof a.address, PRO),
	           "test setup: constants and temporary paths that fit");
	str_assert(str_copy(a.name, sizeof a.name, "Dr Martin"),
	           "test setup: constants and temporary paths that fit");
	a.role = ROLE_PROFESSIONAL;
	if (account_add(st, &a, NULL, NULL, err, sizeof err) != 0)
		die("pro", err);
	return st;
}

static void deliver_loop(struct store *st, unsigned n)
{
	static const char body[] = "From: Dr Martin <" PRO ">\r\nTo: <" PATIENT ">\r\n"
	                           "Subject: compte rendu\r\nMessage-ID: <b@pro.mss.test>\r\n\r\n"
	                           "Bonjour, voici le compte rendu de la consultation.\r\n";
	struct policy_sender s = {.auth = SENDER_CERTIFICATE};
	str_assert(str_copy(s.account, sizeof s.account, PRO),
	           "test setup: constants and temporary paths that fit");
	str_assert(str_copy(s.peer_ip, sizeof s.peer_ip, "127.0.0.1"),
	           "test setup: constants and temporary paths that fit");
	str_assert(str_copy(s.listener, sizeof s.listener, "submission"),
	           "test setup: constants and temporary paths that fit");
	const char *rcpts[] = {PATIENT};
	struct policy_rcpt_row row; /* what RCPT read, handed to the delivery as mss-smtpd does */
	struct mss_status ms;
	struct clock c;
	clock_start(&c);
	for (unsigned i = 0; i < n; i++) {
		char qid[32];
		str_assert(str_format(qid, sizeof qid, "Q%u", i),
		           "test setup: constants and temporary paths that fit");
		if (policy_check_mail(st, &s, PRO, &ms) != 0 ||
		    policy_check_rcpt(st, &s, PRO, PATIENT, &row, &ms) != 0)
			die("rules", ms.text);
		struct policy_message m = {.sender = &s,
		                           .mail_from = PRO,
		                           .rcpts = rcpts,
		                           .nrcpt = 1,
		                           .data = body,
		                           .len = sizeof body - 1,
		                           .queue_id = qid,
		                           .rcpt_rows = &row};
		if (policy_deliver(st, &m, &ms) != 0)
			die("deliver", ms.text);
	}
	clock_report(&c, "mail+rcpt+deliver", n);
}

static void read_loop(struct store *st, unsigned rounds)
{
	char err[256];
	struct store_mailbox mb;
	struct store_msglist l;
	struct clock c;
	unsigned gets = 0;
	clock_start(&c);
	for (unsigned r = 0; r < rounds; r++) {
		if (store_select(st, PATIENT, "INBOX", &mb, &l, err, sizeof err) != 1)
			die("select", err);
		for (size_t i = 0; i < l.n; i++, gets++) {
			struct store_message m;
			if (store_message_get(st, mb.id, l.v[i].uid, STORE_WANT_ENVELOPE, &m, err,
			                      sizeof err) != 1)
				die("message_get", err);
			store_message_free(&m);
		}
		store_msglist_free(&l);
	}
	clock_report(&c, "select + message_get each", rounds);
	printf("%-28s (%u message_get)\n", "", gets);
	struct account a;
	clock_start(&c);
	for (unsigned i = 0; i < rounds * 100; i++)
		if (account_get(st, PATIENT, &a) != 1)
			die("account_get", "");
	clock_report(&c, "account_get", rounds * 100);
}

static const char doc_body[] = "From: Dr Martin <" PRO ">\r\nTo: <" PATIENT ">\r\n"
                               "Subject: compte rendu\r\n\r\nBonjour, voici le compte rendu.\r\n";

static void store_documents(struct store *st, unsigned n, const char *what)
{
	char err[512];
	const char *rcpts[] = {PATIENT};
	struct store_delivery d = {.mail_from = PRO,
	                           .rcpts = rcpts,
	                           .nrcpt = 1,
	                           .mailbox = "Documents/Biologie",
	                           .data = doc_body,
	                           .len = sizeof doc_body - 1};
	struct clock c;
	clock_start(&c);
	for (unsigned i = 0; i < n; i++)
		if (store_deliver(st, &d, NULL, err, sizeof err) != 0)
			die("document", err);
	clock_report(&c, what, n);
}

static void read_documents(struct store *st, const char *what)
{
	char err[512];
	struct store_mailbox mb;
	struct store_msglist l;
	struct clock c;
	if (store_select(st, PATIENT, "Documents/Biologie", &mb, &l, err, sizeof err) != 1)
		die("select documents", err);
	clock_start(&c);
	for (size_t i = 0; i < l.n; i++) {
		struct store_message m;
		if (store_message_get(st, mb.id, l.v[i].uid, STORE_WANT_ENVELOPE, &m, err, sizeof err) != 1)
			die(what, err);
		store_message_free(&m);
	}
	clock_report(&c, what, (unsigned)l.n);
	store_msglist_free(&l);
}

static void readers_loop(const struct mss_config *cfg, struct store *st, unsigned n)
{
	char err[512];
	struct vault_actor who = {"bench", "local", ""};
	struct clock c;
	vault_readers_install();
	store_documents(st, n, "document, no reader");
	clock_start(&c);
	if (vault_access_grant(st, &who, PATIENT, PRO, err, sizeof err) != 0)
		die("grant", err);
	clock_report(&c, "grant (per document sealed)", n);
	store_documents(st, n, "document, 1 reader");
	struct store *rd = store_open(cfg, err, sizeof err);
	if (rd == NULL || store_reader_bind(rd, PRO, err, sizeof err) != 0)
		die("reader", err);
	read_documents(rd, "reader's message_get");
	store_close(rd);
	read_documents(st, "owner's message_get");
	clock_start(&c);
	if (vault_access_revoke(st, &who, PATIENT, PRO, err, sizeof err) != 0)
		die("revoke", err);
	clock_report(&c, "revoke (per row removed)", 2 * n);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 300;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
	char dir[] = "/tmp/bench_store.XXXXXX", cmd[64];
	struct mss_config cfg;
	log_open("bench_store", 1);
	struct store *st = setup(&cfg, dir);
	deliver_loop(st, n);
	read_loop(st, rounds);
	readers_loop(&cfg, st, n);
	store_close(st);
	str_assert(str_format(cmd, sizeof cmd, "rm -rf '%s'", dir),
	           "test setup: constants and temporary paths that fit");
	return system(cmd) == 0 ? 0 : 1;
}

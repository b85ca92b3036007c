/* test_vault_vacc.c: the vaccination book without the patient's key at filing (issue
 * 12, vault_vacc.h): a store that holds no key records a document's entries and marks
 * the book stale; the patient's store rebuilds it, audited as who filed them (a long
 * actor folds the mark's header line: read back unfolded); duplicates add nothing; a
 * mark renewed during a rebuild stays for the next one; a deleted account's goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_schema.h"
#include "directory/account.h"
#include "directory/schema.h"
#include "lib/str.h"
#include "test_db_util.h"
#include "vault/vault.h"
#include "vault/vault_schema.h"
#include "vault/vault_vacc.h"
#include "vault/vault_vacc_int.h"

#define PATIENT "146026322000196@patient.mss.test"
/* long enough that "X-MSS-Vaccination-Entries: <n> <actor> ..." is folded */
#define FILER "dr.jean-baptiste.de-la-fontaine-lebrun@centre-hospitalier-universitaire.example"

static const struct vault_actor filer = {FILER, "operator", "192.0.2.7"};

struct fx {
	struct test_data t;
	struct store *st;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const struct sql_schema *parts[] = {&directory_schema, &directory_entries_schema, &audit_schema,
	                                    &vault_schema};
	struct account a;
	assert_true(sodium_init() >= 0);
	assert_int_equal(test_data_init(&f->t, "test_vault_vacc"), 0);
	assert_int_equal(test_data_open(&f->t, parts, 4), 0);
	f->st = f->t.st;
	assert_int_equal(audit_start_log(f->st, f->err, sizeof f->err), 0);
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(a.address, sizeof a.address, PATIENT), 0);
	a.role = ROLE_PATIENT;
	assert_int_equal(account_add(f->st, &a, NULL, NULL, f->err, sizeof f->err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	test_data_close(&f->t);
	free(f);
	return 0;
}

static struct vault_vacc_entry entry(const char *vaccine, const char *date, bool self)
{
	struct vault_vacc_entry e;
	memset(&e, 0, sizeof e);
	assert_int_equal(str_copy(e.vaccine, sizeof e.vaccine, vaccine), 0);
	assert_int_equal(str_copy(e.date, sizeof e.date, date), 0);
	e.self_declared = self;
	return e;
}

/* Entries recorded by a store without any key (as an MX session's), as the filing does. */
static void record_nokeys(struct fx *f, const struct vault_vacc_entry *e, size_t n)
{
	struct store *w = store_open_nokeys(&f->t.cfg, f->err, sizeof f->err);
	assert_non_null(w);
	assert_int_equal(vault_vacc_record(w, &filer, PATIENT, e, n, f->err, sizeof f->err), 0);
	store_close(w);
}

static int64_t count(struct fx *f, const char *sql)
{
	int64_t n = -1;
	assert_int_equal(sql_one(store_sql(f->st), "t", sql, SQL_NOARGS, &n, f->err, sizeof f->err), 1);
	return n;
}

static int64_t generation(struct fx *f)
{
	int64_t g = -1;
	assert_int_equal(vault_vacc_stale_get(f->st, PATIENT, &g, f->err, sizeof f->err), 0);
	return g;
}

static const char folder_count[] = "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                                   " WHERE b.name = 'Vaccinations'";

static void test_recorded_without_key_rebuilt_by_the_patient(void **state)
{
	struct fx *f = *state;
	struct vault_vacc_entry e[2] = {entry("ROR", "2026-11-01", false),
	                                entry("Repevax", "2025-01-15", false)};
	struct vault_vacc_book *book = calloc(1, sizeof *book);
	char actor[300], detail[200];

	record_nokeys(f, e, 2);
	assert_int_equal(generation(f), 1);
	assert_int_equal(vault_vacc_read(f->st, PATIENT, book), 0);
	assert_int_equal(book->n, 0); /* not in the book yet */
	assert_int_equal(vault_vacc_refresh(f->st, PATIENT, f->err, sizeof f->err), 1);
	assert_int_equal(vault_vacc_read(f->st, PATIENT, book), 0);
	assert_int_equal(book->n, 2);
	assert_int_equal(book->version, 1);
	assert_string_equal(book->e[0].vaccine, "Repevax"); /* oldest first */
	assert_string_equal(book->e[1].vaccine, "ROR");
	assert_int_equal(generation(f), 0);
	assert_int_equal(count(f, folder_count), 1); /* the book alone: the entries merged */
	assert_int_equal(vault_vacc_refresh(f->st, PATIENT, f->err, sizeof f->err), 0);
	struct sql_stmt *q = sql_query(store_sql(f->st), "t",
	                               "SELECT actor, auth, peer, detail FROM audit_log"
	                               " WHERE action = 'vaccination.add'",
	                               SQL_NOARGS, f->err, sizeof f->err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, f->err, sizeof f->err), 1);
	assert_int_equal(sql_text_copy(q, 0, actor, sizeof actor), 0);
	assert_string_equal(actor, FILER);
	assert_string_equal(sql_text(q, 1), "operator");
	assert_string_equal(sql_text(q, 2), "192.0.2.7");
	assert_int_equal(sql_text_copy(q, 3, detail, sizeof detail), 0);
	assert_string_equal(detail, "origin=document entries=2 version=1");
	assert_int_equal(sql_next(q, f->err, sizeof f->err), 0);
	sql_done(q);
	free(book);
}

static void test_duplicates_and_a_declared_entry(void **state)
{
	struct fx *f = *state;
	struct vault_vacc_entry doc = entry("Repevax", "2025-01-15", false);
	struct vault_vacc_entry mine = entry("Grippe", "2025-10-20", true);
	struct vault_vacc_book *book = calloc(1, sizeof *book);
	struct vault_actor patient = {PATIENT, "password", "127.0.0.1"};
	size_t added = 9;

	record_nokeys(f, &doc, 1);
	assert_int_equal(vault_vacc_refresh(f->st, PATIENT, f->err, sizeof f->err), 1);
	record_nokeys(f, &doc, 1); /* the same entry again: nothing new */
	assert_int_equal(vault_vacc_add(f->st, &patient, PATIENT, &mine, 1, &added, f->err, sizeof f->err),
	                 0);
	assert_int_equal(added, 1);
	assert_int_equal(vault_vacc_read(f->st, PATIENT, book), 0);
	assert_int_equal(book->n, 2);
	assert_int_equal(book->version, 2);
	assert_true(book->e[1].self_declared);
	assert_int_equal(generation(f), 0);
	assert_int_equal(count(f, folder_count), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action = 'vaccination.add'"), 2);
	free(book);
}

/* A filing during a rebuild renews the mark: the rebuild that read the older one
 * leaves it for the next. */
static void test_mark_renewed_stays(void **state)
{
	struct fx *f = *state;
	struct vault_vacc_entry e = entry("ROR", "2026-11-01", false);

	assert_int_equal(generation(f), 0);
	record_nokeys(f, &e, 1);
	record_nokeys(f, &e, 1);
	assert_int_equal(generation(f), 2);
	assert_int_equal(vault_vacc_stale_clear(f->st, PATIENT, 1, f->err, sizeof f->err), 0);
	assert_int_equal(generation(f), 2);
	assert_int_equal(vault_vacc_stale_clear(f->st, PATIENT, 2, f->err, sizeof f->err), 0);
	assert_int_equal(generation(f), 0);
	/* a deleted account leaves no mark behind */
	record_nokeys(f, &e, 1);
	assert_int_equal(vault_forget_account(f->st, PATIENT, f->err, sizeof f->err), 0);
	assert_int_equal(generation(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_recorded_without_key_rebuilt_by_the_patient, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_and_a_declared_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mark_renewed_stays, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: SORT keys (base subject, address and display keys, message ids) and the
 * THREAD algorithms (imap/imap_sortkey.c, imap/imap_thread.c). The cases are RFC
 * 5256's rules and the situations of Dovecot's imaptest thread* files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_sortkey.h"
#include "imap/imap_thread.h"

static void check_base(const char *subject, const char *want, bool want_reply)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	bool reply = imap_base_subject(subject, strlen(subject), &b);
	const char *got = b.data != NULL ? b.data : "";
	if (strcmp(got, want) != 0 || reply != want_reply)
		fail_msg("[%s]: got [%s] reply=%d, want [%s] reply=%d", subject, got, reply, want,
		         want_reply);
	buf_free(&b);
}

static void test_base_subject(void **state)
{
	(void)state;
	check_base("a", "A", false);
	check_base("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "B", true);
	check_base("b (a)", "B (A)", false);
	check_base("Re: [FWD: c]", "C", true);
	check_base("[xyz]", "[XYZ]", false);
	check_base("=?iso-8859-1?q?_?=", "", false);
	check_base("Re: =?utf-8?q?b?=", "B", true);
	check_base("=?iso-8859-1?q?RE:_C?=", "C", true);
	check_base("=?us-ascii?b?UmU6IGM=?=", "C", true);
	check_base("Ad: Re: Ad: Re: Ad: x", "AD: RE: AD: RE: AD: X", false);
	check_base("re: [fwd: [fwd: re: [fwd: babylon]]]", "BABYLON", true);
	check_base("  Re:\t\tRE [list]:  hello   world  ", "HELLO WORLD", true);
	check_base("[", "[", false);
	check_base("[fwd:]", "", true);
	check_base("", "", false);
}

static void test_keys(void **state)
{
	(void)state;
	const char *h = "From: =?iso-8859-1?q?foo_aar?= <e@f.g>\r\n"
	                "To: b@c.d\r\n"
	                "Cc: user2: blah@domain1.org;\r\n"
	                "Message-Id: < a@b >\r\n"
	                "References: <x@y> junk <> <z@w>\r\n"
	                "In-Reply-To: <ignored@when.references>\r\n"
	                "Subject: Re: hi\r\n\r\n";
	struct imap_sortkeys k;
	imap_sortkeys_read(h, strlen(h), &k);
	assert_string_equal(k.subject, "HI");
	assert_true(k.reply);
	assert_string_equal(k.from, "E");
	assert_string_equal(k.to, "B");
	assert_string_equal(k.cc, "USER2"); /* the group's name: the first address */
	assert_string_equal(k.dfrom, "FOO AAR");
	assert_string_equal(k.dto, "B@C.D");
	assert_string_equal(k.msgid, "a@b");
	assert_int_equal(k.nrefs, 2);
	assert_string_equal(k.refs[0], "x@y");
	assert_string_equal(k.refs[1], "z@w");
	imap_sortkeys_free(&k);

	const char *h2 = "In-Reply-To: <p@q> <r@s>\r\n\r\n";
	imap_sortkeys_read(h2, strlen(h2), &k);
	assert_null(k.msgid);
	assert_int_equal(k.nrefs, 1);
	assert_string_equal(k.refs[0], "p@q");
	assert_string_equal(k.subject, "");
	assert_string_equal(k.from, "");
	imap_sortkeys_free(&k);
}

/* Threads headers[0..n) (dates[i], sequence numbers 1..n) with the algorithm. */
static void check_threads(const char *const *headers, const int64_t *dates, size_t n, bool refs,
                          const char *want)
{
	struct imap_sortkeys *k = calloc(n, sizeof(*k));
	struct imap_thread_msg *m = calloc(n, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		imap_sortkeys_read(headers[i], strlen(headers[i]), &k[i]);
		m[i] = (struct imap_thread_msg){.num = (uint32_t)(i + 1), .date = dates[i], .k = &k[i]};
	}
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	if (refs)
		imap_thread_references(m, n, &out);
	else
		imap_thread_orderedsubject(m, n, &out);
	const char *got = out.data != NULL ? out.data : "";
	if (strcmp(got, want) != 0)
		fail_msg("got %s, want %s", got, want);
	buf_free(&out);
	for (size_t i = 0; i < n; i++)
		imap_sortkeys_free(&k[i]);
	free(k);
	free(m);
}

static void test_references(void **state)
{
	(void)state;
	/* imaptest "thread": a message's own References break another's link to it */
	const char *t1[] = {"Message-ID: <a@b>\r\n\r\n",
	                    "Message-Id: <b@b>\r\nReferences: <a@b> <c@b>\r\n\r\n",
	                    "Message-Id: <c@b>\r\nReferences: <b@b>\r\n\r\n"};
	check_threads(t1, (int64_t[]){17, 15, 16}, 3, true, "(3 2)(1)");
	check_threads(t1 + 1, (int64_t[]){15, 16}, 2, true, "(2 1)");
	/* a Message-ID seen twice counts as none; subjects join (thread2, thread3) */
	const char *t2[] = {"Message-Id: <a@b>\r\n\r\n", "Message-Id: <a@b>\r\n\r\n"};
	check_threads(t2, (int64_t[]){1, 1}, 2, true, "(1)(2)");
	const char *t3[] = {"Message-Id: <a@b>\r\nSubject: foo\r\n\r\n",
	                    "Message-Id: <a@b>\r\nSubject: Re: foo\r\n\r\n"};
	check_threads(t3, (int64_t[]){1, 2}, 2, true, "(1 2)");
	/* a dummy root keeps two children, gives up one (thread6, thread5) */
	const char *t6[] = {"References: <a@b>\r\n\r\n", "References: <a@b>\r\n\r\n"};
	check_threads(t6, (int64_t[]){1, 2}, 2, true, "((1)(2))");
	const char *t5[] = {"Message-ID: <1@b>\r\n\r\n", "Message-Id: <2@b>\r\nIn-Reply-To: <1@b>\r\n\r\n",
	                    "Message-Id: <3@b>\r\nIn-Reply-To: <1@b>\r\n\r\n",
	                    "Message-Id: <4@b>\r\nIn-Reply-To: <2@b>\r\n\r\n",
	                    "Message-Id: <5@b>\r\nIn-Reply-To: <2@b>\r\n\r\n"};
	check_threads(t5, (int64_t[]){17, 15, 15, 15}, 4, true, "(1 (2 4)(3))");
	check_threads(t5 + 2, (int64_t[]){15, 15}, 2, true, "(1)(2)");
	check_threads(t5 + 2, (int64_t[]){15, 15, 15}, 3, true, "(1)((2)(3))");
	/* a message filling the dummy its reply made (thread7 after EXPUNGE) */
	const char *t7[] = {"Message-Id: <a@b>\r\n\r\n", "Message-Id: <c@b>\r\nReferences: <b@b>\r\n\r\n",
	                    "Message-Id: <b@b>\r\nReferences: <a@b>\r\n\r\n"};
	check_threads(t7, (int64_t[]){1, 1, 1}, 3, true, "(1 3 2)");
	/* loops in References are not followed; naming oneself is ignored */
	const char *loop[] = {"Message-Id: <a@b>\r\nReferences: <b@b> <a@b>\r\n\r\n",
	                      "Message-Id: <b@b>\r\nReferences: <a@b> <b@b>\r\n\r\n"};
	check_threads(loop, (int64_t[]){1, 2}, 2, true, "(2 1)");
	check_threads(NULL, NULL, 0, true, "");
}

static void test_orderedsubject(void **state)
{
	(void)state;
	const char *h[] = {"Subject: a\r\n\r\n", "Subject: b\r\n\r\n",     "Subject: Re: a\r\n\r\n",
	                   "Subject: b\r\n\r\n", "Subject: re: a\r\n\r\n", "\r\n",
	                   "Subject: c\r\n\r\n"};
	check_threads(h, (int64_t[]){10, 9, 8, 7, 30, 1, 5}, 7, false, "(6)(7)(4 2)(3 (1)(5))");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base_subject),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_references),
	    cmocka_unit_test(test_orderedsubject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

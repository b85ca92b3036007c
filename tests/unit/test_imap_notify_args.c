/* Unit tests: imap/imap_notify_args (NOTIFY's arguments, RFC 5465 8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_notify_args.h"
#include "imap/imap_parser.h"

#define SUPPORTED (IMAP_NOTIFY_MESSAGE_EVENTS | IMAP_NOTIFY_NAME_EVENTS)

struct parsed {
	struct imap_parser *p;
	struct imap_notify_request r;
	const char *err;
	int rc;
};

/* Parses "a NOTIFY <args>" and then the arguments as NOTIFY. */
static struct parsed *parse(const char *args)
{
	struct parsed *x = calloc(1, sizeof(*x));
	char line[2048], err[128];
	struct imap_command *c;
	assert_non_null(x);
	assert_true(snprintf(line, sizeof(line), "a NOTIFY%s%s", args[0] ? " " : "", args) <
	            (int)sizeof(line));
	assert_int_equal(imap_parse_command(line, strlen(line), &x->p, &c, err, sizeof(err)), 0);
	x->rc = imap_notify_parse(c->args, c->nargs, SUPPORTED, &x->r, &x->err);
	return x;
}

static void done(struct parsed *x)
{
	imap_parser_free(x->p);
	free(x);
}

static void test_none_and_status(void **state)
{
	(void)state;
	struct parsed *x = parse("NONE");
	assert_int_equal(x->rc, 0);
	assert_true(x->r.none);
	done(x);
	x = parse("set status (MAILBOXES INBOX (MessageNew))");
	assert_int_equal(x->rc, 0);
	assert_false(x->r.none);
	assert_true(x->r.status);
	assert_int_equal(x->r.ngroups, 1);
	assert_int_equal(x->r.groups[0].filter, IMAP_NOTIFY_MAILBOXES);
	assert_int_equal(x->r.groups[0].nnames, 1);
	assert_string_equal(imap_arg_astring(x->r.groups[0].names[0]), "INBOX");
	assert_int_equal(x->r.groups[0].events, IMAP_NOTIFY_MESSAGE_NEW);
	done(x);
}

static void test_groups(void **state)
{
	(void)state;
	struct parsed *x = parse("SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From)]) "
	                         "MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange)) "
	                         "(subtree (Lists \"Mes dossiers\") (MessageNew MessageExpunge)) "
	                         "(inboxes NONE) (subscribed (FlagChange))");
	assert_int_equal(x->rc, 0);
	assert_true(x->r.selected);
	assert_false(x->r.selected_delayed);
	assert_int_equal(x->r.selected_events, IMAP_NOTIFY_MESSAGE_EVENTS);
	assert_non_null(x->r.fetch_att);
	assert_int_equal(x->r.fetch_att->count, 2);
	assert_int_equal(x->r.ngroups, 4);
	assert_int_equal(x->r.groups[0].filter, IMAP_NOTIFY_PERSONAL);
	assert_int_equal(x->r.groups[0].events, IMAP_NOTIFY_NAME_EVENTS);
	assert_int_equal(x->r.groups[1].filter, IMAP_NOTIFY_SUBTREE);
	assert_int_equal(x->r.groups[1].nnames, 2);
	assert_string_equal(imap_arg_astring(x->r.groups[1].names[1]), "Mes dossiers");
	assert_int_equal(x->r.groups[2].filter, IMAP_NOTIFY_INBOXES);
	assert_int_equal(x->r.groups[2].events, 0);
	assert_int_equal(x->r.groups[3].filter, IMAP_NOTIFY_SUBSCRIBED);
	assert_int_equal(x->r.unsupported, 0);
	done(x);
	x = parse("SET (SELECTED-DELAYED (MessageNew MessageExpunge))");
	assert_int_equal(x->rc, 0);
	assert_true(x->r.selected_delayed);
	assert_null(x->r.fetch_att);
	done(x);
}

/* Events the caller does not support are reported, not refused as syntax. */
static void test_unsupported(void **state)
{
	(void)state;
	struct parsed *x =
	    parse("SET (personal (MessageNew AnnotationChange)) (inboxes (ServerMetadataChange "
	          "MailboxMetadataChange))");
	assert_int_equal(x->rc, 0);
	assert_int_equal(x->r.unsupported, IMAP_NOTIFY_ANNOTATION_CHANGE |
	                                       IMAP_NOTIFY_SERVER_METADATA_CHANGE |
	                                       IMAP_NOTIFY_MAILBOX_METADATA_CHANGE);
	done(x);
	assert_string_equal(imap_notify_event_name(IMAP_NOTIFY_FLAG_CHANGE), "FlagChange");
	assert_null(imap_notify_event_name(0x100));
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "SET",
	    "SET STATUS",
	    "NONE extra",
	    "FOO",
	    "SET personal (MessageNew)", /* not a group */
	    "SET (personal)",            /* no events */
	    "SET (personal ())",         /* an empty list */
	    "SET (personal (NoSuchEvent))",
	    "SET (personal MessageNew)",            /* events are a list */
	    "SET (everything (MessageNew))",        /* unknown filter */
	    "SET (subtree (MessageNew))",           /* no mailboxes */
	    "SET (mailboxes () (MessageNew))",      /* no mailboxes */
	    "SET (mailboxes (a (b)) (MessageNew))", /* a list is not a name */
	    "SET (selected (MessageNew))",          /* without MessageExpunge */
	    "SET (selected (MessageExpunge))",
	    "SET (selected (FlagChange))",
	    "SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)", /* twice */
	    "SET (selected (MessageNew () MessageExpunge))",
	    "SET (personal (MessageNew (UID) MessageExpunge))", /* fetch-att: selected only */
	    "SET (selected NONE extra)",
	    "SET (selected (MessageNew MessageExpunge MailboxName))", /* message events only */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct parsed *x = parse(bad[i]);
		if (x->rc != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(x->err);
		done(x);
	}
}

static void test_bounds(void **state)
{
	(void)state;
	char args[2048];
	size_t n = 0;
	n += (size_t)snprintf(args + n, sizeof(args) - n, "SET");
	for (int i = 0; i <= IMAP_NOTIFY_GROUPS_MAX; i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, " (personal (MessageNew))");
	struct parsed *x = parse(args);
	assert_int_equal(x->rc, -1);
	done(x);
	n = (size_t)snprintf(args, sizeof(args), "SET (mailboxes (");
	for (int i = 0; i <= IMAP_NOTIFY_NAMES_MAX; i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, "%sm%d", i ? " " : "", i);
	snprintf(args + n, sizeof(args) - n, ") (MessageNew))");
	x = parse(args);
	assert_int_equal(x->rc, -1);
	done(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none_and_status), cmocka_unit_test(test_groups),
	    cmocka_unit_test(test_unsupported),     cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

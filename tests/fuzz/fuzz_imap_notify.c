/* fuzz-libs: imap lib */
/* libFuzzer target: NOTIFY's arguments (imap/imap_notify_args.c). The input is what
 * follows "NOTIFY " ("SET STATUS (selected (MessageNew (UID) MessageExpunge)) ..."),
 * parsed into arguments, then as NOTIFY. Checks: no crash or leak; an accepted request
 * is NONE or has event groups within their bounds, every mailbox name is an astring,
 * fetch attributes only come with the selected mailbox's MessageNew, and the selected
 * mailbox's events obey RFC 5465 5.2 to 5.4. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_notify_args.h"
#include "imap/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct imap_notify_request *r)
{
	unsigned both = IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE;
	if (r->none && (r->ngroups || r->selected))
		__builtin_trap();
	if (r->ngroups > IMAP_NOTIFY_GROUPS_MAX)
		__builtin_trap();
	for (size_t g = 0; g < r->ngroups; g++) {
		if (r->groups[g].nnames > IMAP_NOTIFY_NAMES_MAX)
			__builtin_trap();
		for (size_t k = 0; k < r->groups[g].nnames; k++)
			if (imap_arg_astring(r->groups[g].names[k]) == NULL)
				__builtin_trap();
	}
	if (r->fetch_att != NULL && (!(r->selected_events & IMAP_NOTIFY_MESSAGE_NEW) ||
	                             r->fetch_att->type != IMAP_ARG_LIST || r->fetch_att->count == 0))
		__builtin_trap();
	if ((r->selected_events & both) != 0 && (r->selected_events & both) != both)
		__builtin_trap();
	if ((r->unsupported & IMAP_NOTIFY_MESSAGE_NEW) != 0)
		__builtin_trap(); /* the caller's mask below supports it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 9);
	if (cmd == NULL)
		return 0;
	memcpy(cmd, "a NOTIFY ", 9);
	memcpy(cmd + 9, data, size);
	struct imap_parser *p;
	struct imap_command *c;
	char err[128];
	if (imap_parse_command(cmd, size + 9, &p, &c, err, sizeof(err)) == 0) {
		struct imap_notify_request *r = malloc(sizeof(*r));
		const char *e;
		if (r != NULL && imap_notify_parse(c->args, c->nargs, IMAP_NOTIFY_MESSAGE_EVENTS, r, &e) == 0)
			check(r);
		free(r);
	}
	imap_parser_free(p);
	free(cmd);
	return 0;
}

/* imap_notify_args.c: the arguments of NOTIFY (RFC 5465 8). */
#include "imap/imap_notify_args.h"

#include <string.h>

#include "lib/str.h"

static const struct {
	const char *name;
	unsigned bit;
} events[] = {
    {"MessageNew", IMAP_NOTIFY_MESSAGE_NEW},
    {"MessageExpunge", IMAP_NOTIFY_MESSAGE_EXPUNGE},
    {"FlagChange", IMAP_NOTIFY_FLAG_CHANGE},
    {"AnnotationChange", IMAP_NOTIFY_ANNOTATION_CHANGE},
    {"MailboxName", IMAP_NOTIFY_MAILBOX_NAME},
    {"SubscriptionChange", IMAP_NOTIFY_SUBSCRIPTION_CHANGE},
    {"MailboxMetadataChange", IMAP_NOTIFY_MAILBOX_METADATA_CHANGE},
    {"ServerMetadataChange", IMAP_NOTIFY_SERVER_METADATA_CHANGE},
};

#define NEVENTS (sizeof(events) / sizeof(events[0]))

const char *imap_notify_event_name(unsigned bit)
{
	for (size_t i = 0; i < NEVENTS; i++)
		if (events[i].bit == bit)
			return events[i].name;
	return NULL;
}

static unsigned event_bit(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM)
		return 0;
	for (size_t i = 0; i < NEVENTS; i++)
		if (str_ieq(a->str, events[i].name))
			return events[i].bit;
	return 0;
}

/* events = "(" event *(SP event) ")" / "NONE". fetch: where MessageNew's fetch
 * attributes go, NULL when they are not allowed (not the selected mailbox). */
static int parse_events(const struct imap_arg *a, unsigned *out, const struct imap_arg **fetch,
                        const char **err)
{
	*out = 0;
	if (imap_arg_is_atom(a, "NONE"))
		return 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		*err = "Expected a list of events or NONE";
		return -1;
	}
	for (size_t i = 0; i < a->count; i++) {
		unsigned bit = event_bit(&a->list[i]);
		if (bit == 0) {
			*err = "Unknown NOTIFY event";
			return -1;
		}
		*out |= bit;
		if (bit != IMAP_NOTIFY_MESSAGE_NEW || i + 1 == a->count ||
		    a->list[i + 1].type != IMAP_ARG_LIST)
			continue;
		if (fetch == NULL || a->list[i + 1].count == 0) {
			*err = "Fetch attributes are for the selected mailbox only";
			return -1;
		}
		*fetch = &a->list[++i];
	}
	return 0;
}

/* RFC 5465 5.2 to 5.4, for the selected mailbox. */
static int check_selected(unsigned ev, const char **err)
{
	unsigned both = IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE;
	if (ev & ~(IMAP_NOTIFY_MESSAGE_EVENTS | IMAP_NOTIFY_ANNOTATION_CHANGE)) {
		*err = "Only message events for the selected mailbox"; /* RFC 5465 6.1 */
		return -1;
	}
	if ((ev & both) != 0 && (ev & both) != both) {
		*err = "MessageNew and MessageExpunge go together";
		return -1;
	}
	if ((ev & (IMAP_NOTIFY_FLAG_CHANGE | IMAP_NOTIFY_ANNOTATION_CHANGE)) && (ev & both) != both) {
		*err = "FlagChange needs MessageNew and MessageExpunge";
		return -1;
	}
	return 0;
}

static int parse_selected(const struct imap_arg *g, struct imap_notify_request *r, const char **err)
{
	if (r->selected) {
		*err = "The selected mailbox is named twice";
		return -1;
	}
	r->selected = true;
	r->selected_delayed = str_ieq(g->list[0].str, "SELECTED-DELAYED");
	if (g->count != 2) {
		*err = "Expected events after SELECTED";
		return -1;
	}
	if (parse_events(&g->list[1], &r->selected_events, &r->fetch_att, err) < 0)
		return -1;
	return check_selected(r->selected_events, err);
}

static int parse_names(const struct imap_arg *a, struct imap_notify_group *grp, const char **err)
{
	const struct imap_arg *v = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t n = a->type == IMAP_ARG_LIST ? a->count : 1;
	if (n == 0) {
		*err = "Expected one or more mailboxes";
		return -1;
	}
	if (n > IMAP_NOTIFY_NAMES_MAX) {
		*err = "Too many mailboxes in one event group";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_astring(&v[i]) == NULL) {
			*err = "Invalid mailbox name";
			return -1;
		}
		grp->names[i] = &v[i];
	}
	grp->nnames = n;
	return 0;
}

static int parse_filter(const char *word, enum imap_notify_filter *f)
{
	static const struct {
		const char *name;
		enum imap_notify_filter f;
	} filters[] = {
	    {"INBOXES", IMAP_NOTIFY_INBOXES},       {"PERSONAL", IMAP_NOTIFY_PERSONAL},
	    {"SUBSCRIBED", IMAP_NOTIFY_SUBSCRIBED}, {"SUBTREE", IMAP_NOTIFY_SUBTREE},
	    {"MAILBOXES", IMAP_NOTIFY_MAILBOXES},
	};
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (str_ieq(word, filters[i].name)) {
			*f = filters[i].f;
			return 0;
		}
	return -1;
}

static int parse_group(const struct imap_arg *g, struct imap_notify_request *r, const char **err)
{
	if (g->type != IMAP_ARG_LIST || g->count < 2 || g->list[0].type != IMAP_ARG_ATOM) {
		*err = "Expected an event group";
		return -1;
	}
	const char *word = g->list[0].str;
	if (str_ieq(word, "SELECTED") || str_ieq(word, "SELECTED-DELAYED"))
		return parse_selected(g, r, err);
	if (r->ngroups == IMAP_NOTIFY_GROUPS_MAX) {
		*err = "Too many event groups";
		return -1;
	}
	struct imap_notify_group *grp = &r->groups[r->ngroups];
	memset(grp, 0, sizeof(*grp));
	if (parse_filter(word, &grp->filter) < 0) {
		*err = "Unknown mailbox filter";
		return -1;
	}
	bool named = grp->filter == IMAP_NOTIFY_SUBTREE || grp->filter == IMAP_NOTIFY_MAILBOXES;
	if (g->count != (named ? 3u : 2u)) {
		*err = named ? "Expected mailboxes and events" : "Expected events";
		return -1;
	}
	if (named && parse_names(&g->list[1], grp, err) < 0)
		return -1;
	if (parse_events(&g->list[named ? 2 : 1], &grp->events, NULL, err) < 0)
		return -1;
	r->ngroups++;
	return 0;
}

int imap_notify_parse(const struct imap_arg *args, size_t nargs, unsigned supported,
                      struct imap_notify_request *r, const char **err)
{
	memset(r, 0, sizeof(*r));
	*err = "Expected SET or NONE";
	if (nargs == 1 && imap_arg_is_atom(&args[0], "NONE")) {
		r->none = true;
		return 0;
	}
	if (nargs < 2 || !imap_arg_is_atom(&args[0], "SET"))
		return -1;
	size_t i = 1;
	if (imap_arg_is_atom(&args[i], "STATUS")) {
		r->status = true;
		i++;
	}
	if (i == nargs) {
		*err = "Expected an event group";
		return -1;
	}
	for (; i < nargs; i++)
		if (parse_group(&args[i], r, err) < 0)
			return -1;
	unsigned used = r->selected_events;
	for (size_t k = 0; k < r->ngroups; k++)
		used |= r->groups[k].events;
	r->unsupported = used & ~supported;
	return 0;
}

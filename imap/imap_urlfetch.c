/* imap_urlfetch.c: URLFETCH's arguments (see imap_urlfetch.h). */
#include "imap/imap_urlfetch.h"

#include "lib/str.h"

static int one_param(const struct imap_arg *a, unsigned *want, const char **err)
{
	if (a->type != IMAP_ARG_ATOM) {
		*err = "URLFETCH parameters are atoms";
		return -1;
	}
	if (str_ieq(a->str, "BODY"))
		*want |= IMAP_URLFETCH_BODY;
	else if (str_ieq(a->str, "BINARY"))
		*want |= IMAP_URLFETCH_BINARY;
	else if (str_ieq(a->str, "BODYPARTSTRUCTURE"))
		*want |= IMAP_URLFETCH_BODYPARTSTRUCTURE;
	else {
		*err = "Unknown URLFETCH parameter";
		return -1;
	}
	return 0;
}

static int one_url(const struct imap_arg *a, struct imap_urlfetch_url *u, const char **err)
{
	u->want = IMAP_URLFETCH_BODY;
	u->url = imap_arg_astring(a);
	if (u->url != NULL)
		return 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0 || (u->url = imap_arg_astring(&a->list[0])) == NULL) {
		*err = "URLFETCH expects URLs or (URL parameters)";
		return -1;
	}
	u->want = IMAP_URLFETCH_EXTENDED;
	for (size_t i = 1; i < a->count; i++)
		if (one_param(&a->list[i], &u->want, err) < 0)
			return -1;
	if ((u->want & IMAP_URLFETCH_BODY) && (u->want & IMAP_URLFETCH_BINARY)) {
		*err = "URLFETCH takes BODY or BINARY, not both";
		return -1;
	}
	if (u->want == IMAP_URLFETCH_EXTENDED)
		u->want |= IMAP_URLFETCH_BODY;
	return 0;
}

int imap_urlfetch_parse(const struct imap_arg *args, size_t nargs, struct imap_urlfetch_url *out,
                        const char **err)
{
	if (nargs == 0) {
		*err = "URLFETCH expects URLs";
		return -1;
	}
	for (size_t i = 0; i < nargs; i++)
		if (one_url(&args[i], &out[i], err) < 0)
			return -1;
	return 0;
}

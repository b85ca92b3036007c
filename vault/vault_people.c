/* vault_people.c: people named as the patient knows them (see vault_people.h). */
#include "vault/vault_people.h"

#include <stdlib.h>
#include <string.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "auth/sender_rows.h"
#include "lib/buf.h"
#include "lib/str.h"

void vault_person_name(struct store *st, const char *address, char *out, size_t outlen)
{
	vault_sender_name(st, NULL, address, out, outlen);
}

void vault_sender_name(struct store *st, const struct policy_sender *s, const char *address, char *out,
                       size_t outlen)
{
	struct account a;
	out[0] = '\0';
	if (!address || !strchr(address, '@'))
		return;
	if (sender_account(st, s, address, &a) == 1 && a.name[0]) {
		if (str_copy(out, outlen, a.name) != 0)
			out[0] = '\0';
		return;
	}
	struct dir_entry *d = xcalloc(1, sizeof *d);
	if (sender_dir_entry(st, s, address, d) == 1 && (d->last_name[0] || d->first_name[0]) &&
	    str_format(out, outlen, "%s%s%s", d->first_name, d->first_name[0] ? " " : "", d->last_name) != 0)
		out[0] = '\0';
	free(d);
}

void vault_person_display(struct store *st, const char *address, char *out, size_t outlen)
{
	char name[300];
	vault_person_name(st, address, name, sizeof name);
	if (name[0] && str_format(out, outlen, "%s (%s)", name, address) == 0)
		return;
	if (str_copy(out, outlen, address ? address : "") != 0)
		out[0] = '\0';
}

/* vault_profile_mail.c: a profile section sent over SMTP submission (vault_profile.h):
 * the patient writes to their own address a message whose Subject is "Profil médical :
 * <section>" (what a mail client's Reply to a version of Profil gives: "Re: Profil
 * médical : Allergies (version 2)"), and the text lists the items. It is filed as the
 * section's next version instead of being stored in INBOX; refused, the client is told
 * why at the end of DATA and nothing is stored (the draft stays in the client). */
#include <string.h>

#include "lib/str.h"
#include "vault/vault_delivery.h"
#include "vault/vault_profile.h"

#define PREFIX "Profil médical"

/* Folds UTF-8 French into ASCII for an SMTP reply (RFC 5321 4.2: replies are ASCII):
 * accented Latin-1 letters lose their accent, guillemets become '"', anything else
 * outside ASCII goes. */
static void ascii_fold(const char *in, char *out, size_t outlen)
{
	static const char latin1[] = "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTsaaaaaaaceeeeiiiidnooooo/ouuuuyty";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < outlen; p++) {
		if (*p < 0x80) {
			out[o++] = (char)(*p >= 0x20 ? *p : ' ');
		} else if (*p == 0xc3 && p[1] >= 0x80 && p[1] <= 0xbf) {
			out[o++] = latin1[*++p - 0x80];
		} else if (*p == 0xc2 && (p[1] == 0xab || p[1] == 0xbb)) {
			out[o++] = '"';
			p++;
		} else if (*p == 0xc2 && p[1] == 0xa0) {
			out[o++] = ' ';
			p++;
		}
	}
	out[o] = '\0';
}

/* true for "Profil médical : ...", after any "Re:", "Fwd:", "TR:". */
static bool profile_subject(const char *subject)
{
	const char *p = subject;
	while (p != NULL && (str_iprefix(p, "Re:") || str_iprefix(p, "Fwd:") || str_iprefix(p, "TR:")))
		p = strchr(p, ':') + 1 + strspn(strchr(p, ':') + 1, " ");
	return p != NULL && str_iprefix(p + strspn(p, " "), PREFIX);
}

int vault_profile_mail(struct store *st, const struct vault_delivery *d, char *why, size_t whylen)
{
	const struct policy_message *m = d->m;
	const struct vault_profile_section *sec = NULL;
	struct vault_actor who = {d->sender, "password", m->sender->peer_ip};
	char err[400];
	unsigned version = 0;
	uint32_t uid = 0;
	int rc;

	if (!d->parsed || !d->sender_patient || m->sender->account[0] == '\0' || m->nrcpt != 1 ||
	    !d->rcpts[0].account || !str_ieq(d->rcpts[0].canonical, d->sender) ||
	    !profile_subject(d->msg.h.subject))
		return 0;
	rc = vault_profile_from_message(st, &who, d->sender, m->data, m->len, &sec, &version, &uid, err,
	                                sizeof(err));
	if (rc == 1) {
		char folded[400];
		ascii_fold(err, folded, sizeof(folded));
		str_error(why, whylen, "Profile section not filed: %s",
		          folded); /* a reply text: may be cut */
		return 2;
	}
	if (rc < 0)
		str_error(why, whylen, "%s", err);
	return rc < 0 ? -1 : 1;
}

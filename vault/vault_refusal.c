/* vault_refusal.c: a refused access to a patient's vault, and whether the patient's
 * history shows it.
 *
 * The history tells a patient who tried to reach their documents; it must never become
 * a channel into the patient's mailbox. So an entry goes into it only when a
 * professional (never another patient, who can have no access anyway) asked for a
 * folder the patient really has, named as the store names it (never the text the
 * requester typed), at most once per requester and patient per
 * history_refusal_interval. Every refusal still goes to the audit log. */
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "directory/account.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault.h"
#include "vault/vault_access.h"

/* The folder's name as stored when patient has it, else false. */
static bool real_folder(struct store *st, const char *patient, const char *folder, char *out, size_t outlen)
{
	struct account a;
	struct store_mailbox mb;
	char err[256];
	if (!folder || !vault_is_shared_mailbox(folder) || account_get(st, patient, &a) != 1 ||
	    a.role != ROLE_PATIENT || store_mailbox_get(st, a.address, folder, &mb, err, sizeof err) != 1)
		return false;
	return str_copy(out, outlen, mb.name) == 0;
}

int vault_audit_refusal(struct store *st, const struct vault_actor *who, bool professional,
                        const char *patient, const char *folder, const char *requested, const char *cmd,
                        const char *why)
{
	char result[128], target[STORE_MAILBOX_MAX];
	const struct mss_config *cfg = store_config(st);
	bool shown =
	    professional && patient && patient[0] && real_folder(st, patient, folder, target, sizeof target);
	if (shown) {
		int64_t since = (int64_t)time(NULL) - (int64_t)cfg->history_refusal_interval;
		int r = audit_patient_recent(st, patient, who->actor, "vault.refused", since);
		shown = r == 0; /* an error keeps it out too: never a flood */
	}
	str_assert(str_format(result, sizeof result, "refused: %s", why),
	           "why is one of the short reasons of vault_access.h");
	return vault_audit(st, who, "vault.refused", shown ? patient : "", shown ? target : requested, cmd,
	                   result);
}

/* vault_people.h: people named as the patient knows them.
 *
 * What a patient reads names a person by the name their account carries, else by the
 * national directory's "First LAST", and by the bare address only when neither knows
 * them; never by a certificate subject DN (an operator's machine is not a person). */
#ifndef MSS_VAULT_PEOPLE_H
#define MSS_VAULT_PEOPLE_H

#include <stddef.h>

#include "auth/auth_sender.h"
#include "store/store.h"

/* The name of address ("" when neither the accounts nor the directory know it). */
void vault_person_name(struct store *st, const char *address, char *out, size_t outlen);
/* The same, the sender's rows read at MAIL taken when they are address's
 * (auth/sender_rows.h); s may be NULL. */
void vault_sender_name(struct store *st, const struct policy_sender *s, const char *address, char *out,
                       size_t outlen);
/* "Dr Martin (dr.martin@pro.mss.test)", else the address as given. */
void vault_person_display(struct store *st, const char *address, char *out, size_t outlen);

#endif

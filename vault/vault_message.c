/* vault_message.c: names of the ways a sender proves who it is (vault_message.h). */
#include "vault/vault_message.h"

const char *policy_auth_name(enum sender_auth a)
{
	static const char *const names[] = {"anonymous", "password",          "certificate",
	                                    "operator",  "relay-certificate", "relay-spf"};
	return (a >= SENDER_ANONYMOUS && a <= SENDER_RELAY_SPF) ? names[a] : "unknown";
}

/* auth_sender.c: names of the ways a sender proves who it is (auth_sender.h). */
#include "auth/auth_sender.h"

const char *policy_auth_name(enum sender_auth a)
{
	static const char *const names[] = {"anonymous",         "password",  "certificate", "operator",
	                                    "relay-certificate", "relay-spf", "token"};

	return (a >= SENDER_ANONYMOUS && a <= SENDER_TOKEN) ? names[a] : "unknown";
}

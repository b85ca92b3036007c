/* tls_test_agent.h: starts a key agent process for the TLS test programs. */
#ifndef MSS_TLS_TEST_AGENT_H
#define MSS_TLS_TEST_AGENT_H

#include <sys/types.h>

/* Forks a process that loads key_file into a key agent and serves it until the
 * control socket closes (when this process exits). This process never opens
 * key_file. Returns the control socket and sets *pid, or exits with a message. */
int test_agent_start(const char *key_file, pid_t *pid);

#endif

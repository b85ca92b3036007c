/* tls_test_agent.c: see tls_test_agent.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/tls.h"
#include "tests/unit/tls_test_agent.h"

int test_agent_start(const char *key_file, pid_t *pid)
{
	const char *keys[] = {key_file};
	char err[512];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	fflush(stdout);
	*pid = fork();
	if (*pid < 0) {
		perror("fork");
		exit(1);
	}
	if (*pid == 0) {
		struct tls_agent *a;

		close(sv[0]);
		a = tls_agent_new(keys, 1, err, sizeof(err));
		if (!a) {
			printf("agent-error\t%s\n", err);
			_exit(1);
		}
		(void)tls_agent_run(a, sv[1]);
		tls_agent_free(a);
		_exit(0);
	}
	close(sv[1]);
	return sv[0];
}

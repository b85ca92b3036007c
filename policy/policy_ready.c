/* policy_ready.c: can the daemons work on this store? Checked at start, as the user the
 * sessions will run as, so that a daemon whose master still runs as root does not
 * start on a data_dir its sessions cannot write. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/master.h"
#include "lib/str.h"
#include "policy/policy.h"

/* In the child: every check in order, the first failure in err. */
static int check_as_user(const struct mss_config *cfg, char *err, size_t errlen)
{
	if (master_drop_privileges(cfg->user, err, errlen) < 0)
		return -1;
	if (store_check_data_dir(cfg, err, errlen) < 0)
		return -1;
	/* without the master key: root's, read by the daemons' key agent alone (the agent
	 * checks it is the store's, store_agent_check) */
	struct store *st = store_open_nokeys(cfg, err, errlen);
	if (st == NULL)
		return -1;
	int rc = policy_schema_check(st, err, errlen);
	store_close(st);
	return rc == 0 ? 0 : -1;
}

/* Reads the child's one message (its whole output) into err. */
static void read_reason(int fd, char *err, size_t errlen)
{
	size_t got = 0;
	while (got + 1 < errlen) {
		ssize_t n = read(fd, err + got, errlen - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	err[got] = '\0';
}

int policy_store_ready(const struct mss_config *cfg, char *err, size_t errlen)
{
	int p[2];
	if (pipe(p) < 0) {
		str_error(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		str_error(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		char why[1024] = "";
		int rc = check_as_user(cfg, why, sizeof why);
		if (rc < 0)
			(void)!write(p[1], why, strlen(why));
		_exit(rc < 0 ? 1 : 0);
	}
	close(p[1]);
	read_reason(p[0], err, errlen);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (err[0] == '\0')
		str_error(err, errlen, "the store check ended abnormally (status %d)", status);
	return -1;
}

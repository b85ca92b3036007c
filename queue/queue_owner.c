/* queue_owner.c: who holds a claim on a queued recipient (queue.h "Claims").
 *
 * A claim names the queue process that made it: the kernel's boot id, its pid
 * namespace, its pid and its start time (/proc/<pid>/stat, clock ticks since boot). A
 * pid alone could be given again to another process once the queue process is gone;
 * the start time of the process that has it then differs, and a boot id that differs
 * means the machine started again. On another kernel or in another pid namespace (a
 * second host on one PostgreSQL store) nothing can be told from here: such a claim
 * waits for its lease. A claim adds a generation to its owner (queue.h "Claims"): the
 * owner is its first four words. */
#include "queue/queue.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/str.h"

/* The text of a small /proc file (its first line, newline cut). Returns 0 or -1. */
static int read_line(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	char *got = fgets(out, (int)outlen, f);
	fclose(f);
	if (got == NULL)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* The start time of pid (field 22 of /proc/<pid>/stat), false when it is gone or a
 * zombie (dead, not yet reaped: its claims are as good as released). */
static bool start_time(long pid, unsigned long long *start)
{
	char path[64], line[1024];
	if (str_format(path, sizeof path, "/proc/%ld/stat", pid) != 0 ||
	    read_line(path, line, sizeof line) != 0)
		return false;
	/* the command name, in parentheses, may hold spaces: the fields follow its last ')' */
	const char *rest = strrchr(line, ')');
	char state = 0;
	if (rest == NULL ||
	    sscanf(rest + 1,
	           " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu", &state,
	           start) != 2)
		return false;
	return state != 'Z' && state != 'X';
}

/* This kernel and pid namespace, as an owner's first two words. */
static int where(char *out, size_t outlen)
{
	char boot[64], ns[64];
	ssize_t n;
	if (read_line("/proc/sys/kernel/random/boot_id", boot, sizeof boot) != 0 ||
	    (n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1)) <= 0)
		return -1;
	ns[n] = '\0';
	return str_format(out, outlen, "%s %s", boot, ns);
}

int queue_owner_self(char *out, size_t outlen)
{
	char here[QUEUE_OWNER_SIZE];
	unsigned long long start = 0;
	long pid = (long)getpid();
	if (where(here, sizeof here) != 0 || !start_time(pid, &start))
		return -1;
	return str_format(out, outlen, "%s %ld %llu", here, pid, start);
}

enum queue_owner_state queue_owner_state(const char *owner)
{
	char here[QUEUE_OWNER_SIZE], boot[64], ns[64];
	long pid = 0;
	unsigned long long start = 0, now = 0;
	if (owner[0] == '\0')
		return QUEUE_OWNER_GONE;
	if (sscanf(owner, "%63s %63s %ld %llu", boot, ns, &pid, &start) != 4 || pid <= 0 ||
	    where(here, sizeof here) != 0)
		return QUEUE_OWNER_UNKNOWN;
	char there[QUEUE_OWNER_SIZE];
	if (str_format(there, sizeof there, "%s %s", boot, ns) != 0 || strcmp(there, here) != 0)
		return QUEUE_OWNER_UNKNOWN; /* another kernel or namespace: its lease decides */
	if (!start_time(pid, &now) || now != start)
		return QUEUE_OWNER_GONE;
	return QUEUE_OWNER_ALIVE;
}

long queue_owner_pid(const char *owner)
{
	long pid = 0;
	return sscanf(owner, "%*s %*s %ld", &pid) == 1 && pid > 0 ? pid : 0;
}

int queue_owner_of(const char *claim, char *out, size_t outlen)
{
	char boot[64], ns[64];
	long pid = 0;
	unsigned long long start = 0;
	if (sscanf(claim, "%63s %63s %ld %llu", boot, ns, &pid, &start) != 4 || pid <= 0)
		return -1;
	return str_format(out, outlen, "%s %s %ld %llu", boot, ns, pid, start);
}

/* fd_io.c: whole reads and writes on a descriptor (fd_io.h). */
#include "lib/fd_io.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const unsigned char *c, size_t n, bool sock)
{
	while (n > 0) {
		ssize_t w = sock ? send(fd, c, n, MSG_NOSIGNAL) : write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int fd_write_all(int fd, const void *p, size_t n)
{
	return write_all(fd, p, n, false);
}

int fd_send_all(int fd, const void *p, size_t n)
{
	return write_all(fd, p, n, true);
}

int fd_read_exact(int fd, void *p, size_t n)
{
	unsigned char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

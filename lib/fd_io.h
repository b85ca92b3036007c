/* fd_io.h: whole reads and writes on a descriptor (pipes, files, local sockets).
 *
 * A short read or write is not an error on these descriptors, nor is EINTR: each caller
 * wrote the same loop before (the committer's client, the relay pool, the audit chain,
 * the key files). */
#ifndef MSS_FD_IO_H
#define MSS_FD_IO_H

#include <stddef.h>

/* Writes all n bytes of p. Returns 0, or -1 (errno set; 0 written counts as an error). */
int fd_write_all(int fd, const void *p, size_t n);
/* The same on a socket, whose peer gone is an error (EPIPE), never SIGPIPE, whatever the
 * process's disposition of it. */
int fd_send_all(int fd, const void *p, size_t n);
/* Reads exactly n bytes into p. Returns 0, or -1 on an error or an end before n bytes. */
int fd_read_exact(int fd, void *p, size_t n);

#endif

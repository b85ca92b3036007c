/* relay_stream.c: the mailstream_low driver of the relay (relay_stream.h). */
#include "smtpd/relay_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/str.h"

static struct relay_io *io_of(mailstream_low *low)
{
	return low->data;
}

/* Waits until fd is ready for events or io's timeout passes. Returns 0 or -1. */
static int wait_fd(struct relay_io *io, short events)
{
	struct pollfd p = {.fd = io->fd, .events = events};
	int r;
	do
		r = poll(&p, 1, io->timeout > 0 ? (int)io->timeout * 1000 : -1);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		io->failure = "timed out";
	else if (r < 0)
		io->failure = "poll failed";
	return r > 0 ? 0 : -1;
}

static ssize_t low_read(mailstream_low *low, void *buf, size_t count)
{
	struct relay_io *io = io_of(low);
	ssize_t n;
	if (io->reply_bytes >= RELAY_REPLY_MAX) {
		io->failure = "reply too long";
		return -1;
	}
	if (count > RELAY_REPLY_MAX - io->reply_bytes)
		count = RELAY_REPLY_MAX - io->reply_bytes;
	for (;;) {
		if (io->tls != NULL) {
			n = tls_read(io->tls, buf, count);
			if (n != -2)
				break;
		} else {
			n = read(io->fd, buf, count);
			if (n >= 0 || (errno != EAGAIN && errno != EINTR))
				break;
		}
		if (wait_fd(io, POLLIN) < 0)
			return -1;
	}
	if (n < 0)
		io->failure = "read failed";
	else if (n == 0)
		io->failure = "connection closed";
	else
		io->reply_bytes += (size_t)n;
	return n;
}

static ssize_t low_write(mailstream_low *low, const void *buf, size_t count)
{
	struct relay_io *io = io_of(low);
	ssize_t n;
	io->reply_bytes = 0; /* a new command: its reply gets the whole bound */
	for (;;) {
		if (io->tls != NULL) {
			n = tls_write(io->tls, buf, count);
			if (n != -2)
				break;
		} else {
			n = write(io->fd, buf, count);
			if (n >= 0 || (errno != EAGAIN && errno != EINTR))
				break;
		}
		if (wait_fd(io, POLLOUT) < 0)
			return -1;
	}
	if (n < 0)
		io->failure = "write failed";
	return n;
}

static int low_close(mailstream_low *low)
{
	(void)low; /* the caller closes the socket and frees the TLS session */
	return 0;
}

static int low_get_fd(mailstream_low *low)
{
	return io_of(low)->fd;
}

static void low_free(mailstream_low *low)
{
	free(low); /* libetpan's drivers free their mailstream_low themselves */
}

static void low_cancel(mailstream_low *low)
{
	(void)low;
}

static struct mailstream_cancel *low_get_cancel(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static carray *low_get_chain(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static mailstream_low_driver relay_driver = {
    .mailstream_read = low_read,
    .mailstream_write = low_write,
    .mailstream_close = low_close,
    .mailstream_get_fd = low_get_fd,
    .mailstream_free = low_free,
    .mailstream_cancel = low_cancel,
    .mailstream_get_cancel = low_get_cancel,
    .mailstream_get_certificate_chain = low_get_chain,
};

mailstream *relay_stream_new(struct relay_io *io)
{
	mailstream_low *low = mailstream_low_new(io, &relay_driver);
	if (low == NULL)
		return NULL;
	mailstream *s = mailstream_new(low, 8192);
	if (s == NULL)
		mailstream_low_free(low);
	return s;
}

int relay_stream_starttls(mailstream *s, struct relay_io *io, struct tls_ctx *ctx, const char *server_name,
                          unsigned timeout, char *err, size_t errlen)
{
	if (s->read_buffer_len > 0) {
		str_error(err, errlen, "server sent data ahead of the TLS handshake");
		return -1;
	}
	io->tls = tls_connect(ctx, io->fd, server_name, timeout, err, errlen);
	if (io->tls == NULL)
		return -1;
	/* the same driver, now reading through io->tls */
	return 0;
}

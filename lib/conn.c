/* conn.c: bounded buffered client stream, plain or TLS (see conn.h). */
#include "lib/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/log.h"
#include "lib/str.h"

#define CONN_READ_CHUNK 16384
#define CONN_OUT_FLUSH 65536 /* flush automatically past this much pending output */

struct conn {
	int fd;
	struct tls_sess *tls;
	struct tls_peer peer;
	char peer_ip[64];
	unsigned timeout_s;
	long total_deadline; /* ms (monotonic) by which the current command must be in; 0 none */
	struct buf in;       /* bytes read, not yet consumed */
	struct buf out;      /* replies not yet sent */
	bool broken;         /* a write failed: further output is dropped */
	/* COMPRESS=DEFLATE (RFC 4978): raw deflate both ways once started */
	z_stream *zin, *zout;
	struct buf zraw; /* compressed bytes read, not yet inflated */
	struct buf zbuf; /* compressed bytes to send */
};

struct conn *conn_new(int fd, const char *peer_ip)
{
	struct conn *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	/* an address text (INET6_ADDRSTRLEN) is shorter than peer_ip; a cut one is logged as is */
	if (str_copy(c->peer_ip, sizeof c->peer_ip, peer_ip ? peer_ip : "") < 0)
		log_warn("conn", "error=\"peer address cut\" peer=%s", c->peer_ip);
	/* a peer's bytes: wiped as they grow and go (reused processes, lib/master.h) */
	buf_init_wiped(&c->in, BUF_UNLIMITED);
	buf_init_wiped(&c->out, BUF_UNLIMITED);
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	/* Replies are already gathered in c->out and flushed once per pipelined group;
	 * Nagle would only hold the last segment back until the peer's delayed ACK
	 * (~40 ms per command). Fails harmlessly on non-TCP sockets. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return c;
}

void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->tls)
		tls_sess_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	/* wiped (buf_init_wiped): the next connection of a reused process must not find them */
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->zin != NULL) {
		inflateEnd(c->zin);
		deflateEnd(c->zout);
		free(c->zin);
		free(c->zout);
		buf_free(&c->zraw);
		buf_free(&c->zbuf);
	}
	free(c);
}

void conn_set_timeout(struct conn *c, unsigned seconds)
{
	c->timeout_s = seconds;
}

const char *conn_peer_ip(const struct conn *c)
{
	return c->peer_ip;
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

const struct tls_peer *conn_tls_peer(const struct conn *c)
{
	return &c->peer;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static volatile sig_atomic_t stop_requested;

void conn_request_stop(void)
{
	stop_requested = 1;
}

bool conn_stopping(void)
{
	return stop_requested != 0;
}

/* Waits for fd to be ready for events until deadline (ms, 0 = forever).
 * Returns 1 ready, 0 timeout, -1 error, -2 stopping (only when waiting for input). */
static int wait_fd(int fd, short events, long deadline)
{
	for (;;) {
		if (stop_requested && (events & POLLIN))
			return -2;
		int ms = -1;
		if (deadline) {
			long left = deadline - now_ms();
			if (left <= 0)
				return 0;
			ms = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* The sooner of the per-wait timeout and the command's total deadline: a client that
 * sends one byte just before each timeout still cannot hold the session past the
 * total (issue 12). */
static long deadline_of(const struct conn *c)
{
	long d = c->timeout_s ? now_ms() + (long)c->timeout_s * 1000L : 0;
	if (c->total_deadline && (d == 0 || c->total_deadline < d))
		d = c->total_deadline;
	return d;
}

void conn_set_deadline(struct conn *c, unsigned seconds)
{
	c->total_deadline = seconds ? now_ms() + (long)seconds * 1000L : 0;
}

/* Reads what the peer sent (at least one byte) into out, through TLS when active. */
static enum conn_result fill_raw(struct conn *c, struct buf *out)
{
	long deadline = deadline_of(c);
	for (;;) {
		if (buf_reserve(out, CONN_READ_CHUNK) < 0)
			return CONN_ERROR;
		ssize_t n;
		if (c->tls)
			n = tls_read(c->tls, out->data + out->len, CONN_READ_CHUNK);
		else {
			n = read(c->fd, out->data + out->len, CONN_READ_CHUNK);
			if (n < 0)
				n = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
		}
		if (n > 0) {
			buf_added(out, (size_t)n);
			return CONN_OK;
		}
		if (n == 0)
			return CONN_EOF;
		if (n == -1)
			return CONN_ERROR;
		int w = wait_fd(c->fd, POLLIN, deadline);
		if (w == -2)
			return CONN_STOP;
		if (w == 0)
			return CONN_TIMEOUT;
		if (w < 0)
			return CONN_ERROR;
	}
}

/* Inflates what c->zraw holds into c->in. Returns 1 when bytes came out, 0 when more
 * input is needed, -1 on a corrupt or ended stream. */
static int inflate_some(struct conn *c)
{
	if (buf_reserve(&c->in, CONN_READ_CHUNK) < 0)
		return -1;
	c->zin->next_in = (unsigned char *)c->zraw.data;
	c->zin->avail_in = (uInt)c->zraw.len;
	c->zin->next_out = (unsigned char *)c->in.data + c->in.len;
	c->zin->avail_out = CONN_READ_CHUNK;
	int z = inflate(c->zin, Z_SYNC_FLUSH);
	size_t produced = CONN_READ_CHUNK - c->zin->avail_out;
	buf_consume(&c->zraw, c->zraw.len - c->zin->avail_in);
	buf_added(&c->in, produced);
	if (z != Z_OK && z != Z_BUF_ERROR)
		return -1;
	return produced > 0 ? 1 : 0;
}

/* Reads what is available (at least one byte) into c->in. */
static enum conn_result fill(struct conn *c)
{
	if (c->zin == NULL)
		return fill_raw(c, &c->in);
	for (;;) {
		int z = c->zraw.len > 0 ? inflate_some(c) : 0;
		if (z > 0)
			return CONN_OK;
		if (z < 0)
			return CONN_ERROR;
		enum conn_result r = fill_raw(c, &c->zraw);
		if (r != CONN_OK)
			return r;
	}
}

/* Returns 0, or -1 when line's own limit is too small (the line is consumed all the same). */
static int take_line(struct conn *c, size_t lf, struct buf *line, int *flags)
{
	size_t end = lf;
	int f = 0;
	if (end > 0 && c->in.data[end - 1] == '\r')
		end--;
	else
		f |= CONN_LINE_BARE_LF;
	if (memchr(c->in.data, '\0', end) != NULL)
		f |= CONN_LINE_NUL;
	int rc = buf_append(line, c->in.data, end);
	buf_consume(&c->in, lf + 1);
	if (flags)
		*flags = f;
	return rc;
}

/* Discards input up to and including the next LF (the tail of an over-long line). */
static enum conn_result skip_line(struct conn *c)
{
	for (;;) {
		char *lf = memchr(c->in.data, '\n', c->in.len);
		if (lf != NULL) {
			buf_consume(&c->in, (size_t)(lf - c->in.data) + 1);
			return CONN_TOOLONG;
		}
		buf_reset(&c->in);
		enum conn_result r = fill(c);
		if (r != CONN_OK)
			return r;
	}
}

enum conn_result conn_read_line(struct conn *c, struct buf *line, size_t max, int *flags)
{
	buf_reset(line);
	if (flags)
		*flags = 0;
	size_t scanned = 0;
	for (;;) {
		char *lf = memchr(c->in.data + scanned, '\n', c->in.len - scanned);
		if (lf != NULL) {
			size_t pos = (size_t)(lf - c->in.data);
			size_t content = (pos > 0 && c->in.data[pos - 1] == '\r') ? pos - 1 : pos;
			if (content > max) {
				buf_consume(&c->in, pos + 1);
				return CONN_TOOLONG;
			}
			if (take_line(c, pos, line, flags) < 0) /* the line buffer's own limit */
				return CONN_TOOLONG;
			return CONN_OK;
		}
		scanned = c->in.len;
		/* +1: a CR may still be waiting for its LF. */
		if (c->in.len > max + 1)
			return skip_line(c);
		enum conn_result r = fill(c);
		if (r != CONN_OK)
			return r;
	}
}

enum conn_result conn_read_exact(struct conn *c, struct buf *out, size_t n)
{
	while (n > 0) {
		if (c->in.len == 0) {
			enum conn_result r = fill(c);
			if (r != CONN_OK)
				return r;
		}
		size_t take = c->in.len < n ? c->in.len : n;
		if (buf_append(out, c->in.data, take) < 0)
			return CONN_TOOLONG;
		buf_consume(&c->in, take);
		n -= take;
	}
	return CONN_OK;
}

enum conn_result conn_read_some(struct conn *c, struct buf *out, size_t max)
{
	if (c->in.len == 0) {
		enum conn_result r = fill(c);
		if (r != CONN_OK)
			return r;
	}
	size_t take = c->in.len < max ? c->in.len : max;
	if (buf_append(out, c->in.data, take) < 0)
		return CONN_TOOLONG;
	buf_consume(&c->in, take);
	return CONN_OK;
}

void conn_unread(struct conn *c, const void *p, size_t n)
{
	struct buf in;

	buf_init_wiped(&in, BUF_UNLIMITED); /* as c->in: its bound is the reader's line limit */
	buf_put(&in, p, n);
	if (c->in.len > 0)
		buf_put(&in, c->in.data, c->in.len);
	buf_free(&c->in);
	c->in = in;
}

bool conn_has_buffered_input(const struct conn *c)
{
	return c->in.len > 0 || c->zraw.len > 0 || (c->tls && tls_pending(c->tls) > 0);
}

int conn_wait_readable(struct conn *c, int extra_fd, int timeout_ms)
{
	return conn_wait_readable2(c, extra_fd, -1, timeout_ms);
}

int conn_wait_readable2(struct conn *c, int extra_fd, int extra_fd2, int timeout_ms)
{
	if (conn_has_buffered_input(c))
		return 1;
	struct pollfd p[3] = {{.fd = c->fd, .events = POLLIN},
	                      {.fd = extra_fd, .events = POLLIN},
	                      {.fd = extra_fd2, .events = POLLIN}}; /* poll skips a negative fd */
	int r;
	do {
		if (stop_requested)
			return -2;
		r = poll(p, 3, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	if (p[0].revents)
		return 1;
	return p[2].revents ? 3 : 2; /* extra_fd2 first: see conn.h */
}

static int send_raw(struct conn *c, const char *p, size_t n)
{
	long deadline = deadline_of(c);
	while (n > 0) {
		ssize_t w;
		if (c->tls)
			w = tls_write(c->tls, p, n);
		else {
			w = write(c->fd, p, n);
			if (w < 0)
				w = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
		}
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 || wait_fd(c->fd, POLLOUT, deadline) <= 0)
			return -1;
	}
	return 0;
}

/* Deflates p (flushed: everything up to here reaches the peer, RFC 4978 4), then sends. */
static int send_deflated(struct conn *c, const char *p, size_t n)
{
	c->zout->next_in = (unsigned char *)p;
	c->zout->avail_in = (uInt)n;
	do {
		buf_reset(&c->zbuf);
		if (buf_reserve(&c->zbuf, CONN_OUT_FLUSH) < 0)
			return -1;
		c->zout->next_out = (unsigned char *)c->zbuf.data;
		c->zout->avail_out = CONN_OUT_FLUSH;
		if (deflate(c->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
			return -1;
		buf_added(&c->zbuf, CONN_OUT_FLUSH - c->zout->avail_out);
		if (send_raw(c, c->zbuf.data, c->zbuf.len) < 0)
			return -1;
	} while (c->zout->avail_out == 0);
	return 0;
}

static int send_all(struct conn *c, const char *p, size_t n)
{
	if (c->zout != NULL)
		return n > 0 ? send_deflated(c, p, n) : 0;
	return send_raw(c, p, n);
}

int conn_start_deflate(struct conn *c, char *err, size_t errlen)
{
	if (c->zin != NULL) {
		str_error(err, errlen, "%s", "compression already active");
		return -1;
	}
	if (conn_flush(c) < 0) {
		str_error(err, errlen, "%s", "connection lost");
		return -1;
	}
	c->zin = xcalloc(1, sizeof(*c->zin));
	c->zout = xcalloc(1, sizeof(*c->zout));
	/* raw deflate, no zlib header (RFC 4978 3: windowBits -15) */
	if (inflateInit2(c->zin, -15) != Z_OK ||
	    deflateInit2(c->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		str_error(err, errlen, "%s", "zlib initialisation failed");
		free(c->zin);
		free(c->zout);
		c->zin = c->zout = NULL;
		return -1;
	}
	buf_init(&c->zraw, BUF_UNLIMITED);
	buf_init(&c->zbuf, BUF_UNLIMITED);
	/* what was read beyond the command is already compressed */
	if (buf_append(&c->zraw, c->in.data, c->in.len) < 0) {
		str_error(err, errlen, "%s", "input too large");
		return -1;
	}
	buf_reset(&c->in);
	return 0;
}

bool conn_is_deflated(const struct conn *c)
{
	return c->zin != NULL;
}

int conn_flush(struct conn *c)
{
	if (c->broken)
		return -1;
	int r = send_all(c, c->out.data, c->out.len);
	buf_reset(&c->out);
	if (r < 0)
		c->broken = true;
	return r;
}

int conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->broken)
		return -1;
	if (buf_append(&c->out, p, n) < 0) { /* unlimited: past SIZE_MAX / 2 only */
		c->broken = true;
		return -1;
	}
	if (c->out.len >= CONN_OUT_FLUSH)
		return conn_flush(c);
	return 0;
}

int conn_puts(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
	if (c->broken)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		c->broken = true;
		return -1;
	}
	if (c->out.len >= CONN_OUT_FLUSH)
		return conn_flush(c);
	return 0;
}

int conn_put_uint(struct conn *c, uint64_t v)
{
	char digits[20]; /* UINT64_MAX has 20 */
	size_t n = sizeof digits;
	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return conn_write(c, digits + n, sizeof digits - n);
}

int conn_start_tls(struct conn *c, struct tls_ctx *ctx, char *err, size_t errlen)
{
	if (c->tls) {
		str_error(err, errlen, "%s", "TLS already active");
		return -1;
	}
	if (conn_flush(c) < 0) {
		str_error(err, errlen, "%s", "connection lost before TLS");
		return -1;
	}
	/* RFC 3207 5 / CVE-2011-0411: anything sent in the clear after STARTTLS is dropped. */
	buf_reset(&c->in);
	c->tls = tls_accept(ctx, c->fd, c->timeout_s ? c->timeout_s : 30, err, errlen);
	if (c->tls == NULL)
		return -1;
	tls_peer_info(c->tls, &c->peer);
	return 0;
}

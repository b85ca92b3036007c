/* imap_decode.c: streamed quoted-printable and base64 decoding (see imap_decode.h). */
#include "imap/imap_decode.h"

#include <string.h>

#include "lib/str.h"

enum qp_state { QP_TEXT, QP_WS, QP_EQ, QP_EQ_WS, QP_HEX2, QP_CR, QP_SOFT_CR };

enum imap_cte imap_cte_parse(const char *name)
{
	if (name == NULL || name[0] == '\0' || str_ieq(name, "7bit") || str_ieq(name, "8bit") ||
	    str_ieq(name, "binary"))
		return IMAP_CTE_7BIT;
	if (str_ieq(name, "quoted-printable"))
		return IMAP_CTE_QP;
	if (str_ieq(name, "base64"))
		return IMAP_CTE_BASE64;
	return IMAP_CTE_UNKNOWN;
}

void imap_decoder_init(struct imap_decoder *d, enum imap_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f') /* not valid QP, but written by some mailers */
		return c - 'a' + 10;
	return -1;
}

static void qp_hold_ws(struct imap_decoder *d, char c)
{
	if (d->nws < sizeof(d->ws))
		d->ws[d->nws++] = c;
}

/* Undoes a sequence that turned out not to be what it started as: its octets are
 * data after all (RFC 2045 6.7 (note 4): decoders keep them). */
static void qp_invalid(struct imap_decoder *d, struct buf *out)
{
	switch (d->state) {
	case QP_EQ:
		buf_put_char(out, '=');
		break;
	case QP_HEX2:
		buf_put_char(out, '=');
		buf_put_char(out, d->hex);
		break;
	case QP_EQ_WS:
	case QP_SOFT_CR:
		buf_put_char(out, '=');
		buf_put(out, d->ws, d->nws);
		if (d->state == QP_SOFT_CR)
			buf_put_char(out, '\r');
		break;
	case QP_CR:
		buf_put(out, d->ws, d->nws);
		buf_put_char(out, '\r');
		break;
	default:
		break;
	}
	d->nws = 0;
	d->state = QP_TEXT;
}

/* One octet in the text state. */
static void qp_text(struct imap_decoder *d, char c, struct buf *out)
{
	switch (c) {
	case '=':
		d->state = QP_EQ;
		break;
	case '\r':
		d->state = QP_CR;
		break;
	case '\n': /* a bare LF ends a line too */
		buf_put(out, "\r\n", 2);
		break;
	case ' ':
	case '\t':
		d->state = QP_WS;
		qp_hold_ws(d, c);
		break;
	default:
		buf_put_char(out, c);
	}
}

/* Returns 1 when c was consumed, 0 when it must be looked at again in QP_TEXT. */
static int qp_step(struct imap_decoder *d, char c, struct buf *out)
{
	int h;
	switch (d->state) {
	case QP_TEXT:
		qp_text(d, c, out);
		return 1;
	case QP_WS:
		if (c == ' ' || c == '\t') {
			qp_hold_ws(d, c);
		} else if (c == '\r') {
			d->state = QP_CR;
		} else if (c == '\n') { /* trailing white space is dropped (RFC 2045 6.7 (3)) */
			buf_put(out, "\r\n", 2);
			d->nws = 0;
			d->state = QP_TEXT;
		} else {
			buf_put(out, d->ws, d->nws);
			d->nws = 0;
			d->state = QP_TEXT;
			return 0;
		}
		return 1;
	case QP_EQ:
		if ((h = hexval(c)) >= 0) {
			d->hex = c;
			d->state = QP_HEX2;
		} else if (c == ' ' || c == '\t') {
			qp_hold_ws(d, c);
			d->state = QP_EQ_WS;
		} else if (c == '\r') {
			d->state = QP_SOFT_CR;
		} else if (c == '\n') {
			d->state = QP_TEXT; /* soft line break */
		} else {
			qp_invalid(d, out);
			return 0;
		}
		return 1;
	case QP_HEX2:
		if ((h = hexval(c)) < 0) {
			qp_invalid(d, out);
			return 0;
		}
		buf_put_char(out, (char)(hexval(d->hex) * 16 + h));
		d->state = QP_TEXT;
		return 1;
	case QP_EQ_WS: /* "=" then white space: a soft line break with trailing space */
		if (c == ' ' || c == '\t') {
			qp_hold_ws(d, c);
		} else if (c == '\r') {
			d->state = QP_SOFT_CR;
		} else if (c == '\n') {
			d->nws = 0;
			d->state = QP_TEXT;
		} else {
			qp_invalid(d, out);
			return 0;
		}
		return 1;
	default: /* QP_CR, QP_SOFT_CR */
		if (c != '\n') {
			qp_invalid(d, out);
			return 0;
		}
		if (d->state == QP_CR)
			buf_put(out, "\r\n", 2);
		d->nws = 0;
		d->state = QP_TEXT;
		return 1;
	}
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void b64_feed(struct imap_decoder *d, const char *src, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n && !d->done; i++) {
		if (src[i] == '=') { /* padding: the data ends here (RFC 2045 6.8) */
			d->done = 1;
			break;
		}
		int v = b64val(src[i]);
		if (v < 0)
			continue; /* line breaks, and anything else outside the alphabet */
		d->acc = (d->acc << 6) | (uint32_t)v;
		d->nbits += 6;
		if (d->nbits >= 8) {
			d->nbits -= 8;
			buf_put_char(out, (char)((d->acc >> d->nbits) & 0xff));
		}
	}
}

void imap_decoder_feed(struct imap_decoder *d, const char *src, size_t n, struct buf *out)
{
	if (d->cte == IMAP_CTE_BASE64) {
		b64_feed(d, src, n, out);
		return;
	}
	if (d->cte != IMAP_CTE_QP) {
		buf_put(out, src, n);
		return;
	}
	for (size_t i = 0; i < n;)
		i += (size_t)qp_step(d, src[i], out);
}

void imap_decoder_finish(struct imap_decoder *d, struct buf *out)
{
	if (d->cte == IMAP_CTE_QP && d->state != QP_TEXT && d->state != QP_WS)
		qp_invalid(d, out);
	d->state = QP_TEXT;
	d->nws = 0;
}

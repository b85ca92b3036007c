/* dsn.c: DSN parameters' values (dsn.h): NOTIFY's meaning and the xtext codec. */
#include "lib/dsn.h"

#include <string.h>

#include "lib/str.h"

bool dsn_notify_wants(unsigned notify, unsigned event)
{
	/* RFC 3461 4.1: without NOTIFY, the MTA's default: failures and delays */
	if (notify == 0)
		notify = DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	return (notify & DSN_NOTIFY_NEVER) == 0 && (notify & event) != 0;
}

static int hex_value(char c)
{
	/* RFC 3461 4: hexchar is "+" followed by two upper case hexadecimal digits */
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dsn_xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	for (const char *p = in; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '+') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			if (lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			p += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return -1;
		}
		if (c < ' ' || c > '~' || n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int dsn_xtext_encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = *p >= '!' && *p <= '~' && *p != '+' && *p != '=';
		if (n + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '+';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

void dsn_notify_format(unsigned notify, char out[32])
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{DSN_NOTIFY_NEVER, "NEVER"},
	             {DSN_NOTIFY_SUCCESS, "SUCCESS"},
	             {DSN_NOTIFY_FAILURE, "FAILURE"},
	             {DSN_NOTIFY_DELAY, "DELAY"}};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t len = strlen(names[i].name);
		if (!(notify & names[i].bit) || n + len + 2 > 32)
			continue;
		if (n > 0)
			out[n++] = ',';
		memcpy(out + n, names[i].name, len + 1);
		n += len;
	}
}

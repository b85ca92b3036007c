/* relay_reply.c: remote replies made safe and judged (relay_reply.h). */
#include "smtpd/relay_reply.h"

#include <stdbool.h>
#include <string.h>

#include "lib/str.h"

enum relay_verdict relay_reply_verdict(int code)
{
	if (code >= 200 && code < 300)
		return RELAY_OK;
	if (code >= 500 && code < 600)
		return RELAY_PERMANENT;
	return RELAY_TEMPORARY;
}

void relay_reply_line(int code, const char *text, char *out, size_t outlen)
{
	size_t o = 0;
	bool space = false;
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (code > 0 && code < 1000 && outlen > 4) {
		if (str_format(out, outlen, "%d", code) != 0)
			return;
		o = strlen(out);
		space = true;
	}
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	for (; *p && o + 1 < outlen; p++) {
		unsigned char c = *p;
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t') {
			space = o > 0;
			continue;
		}
		if (space) {
			out[o++] = ' ';
			space = false;
			if (o + 1 >= outlen)
				break;
		}
		out[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	out[o] = '\0';
	/* a cut line says so (trailing blanks are no cut) */
	p += strspn((const char *)p, " \t\r\n");
	if (*p != '\0' && o >= 3)
		memcpy(out + o - 3, "...", 3);
}

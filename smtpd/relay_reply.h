/* relay_reply.h: what the relay keeps of a remote server's reply. libetpan's mailsmtp
 * reads the reply (its code in response_code, its text lines in response); this turns
 * them into one printable line for the queue, the audit log and bounces, and into a
 * verdict (RFC 5321 4.2.1: 2yz done, 4yz try again later, 5yz failed for good). */
#ifndef MSS_RELAY_REPLY_H
#define MSS_RELAY_REPLY_H

#include <stddef.h>

enum relay_verdict {
	RELAY_OK,        /* 2yz */
	RELAY_TEMPORARY, /* 4yz, no reply, a reply that does not parse, a lost connection */
	RELAY_PERMANENT, /* 5yz */
};

/* The verdict of a reply code (0 or out of range: no usable reply: temporary). */
enum relay_verdict relay_reply_verdict(int code);

/* Writes "CODE TEXT" into out: text's lines joined by spaces, every control or
 * non-ASCII byte replaced by '?' (a remote reply is untrusted and goes into logs and
 * a bounce), cut to outlen - 1 bytes with "..." at the end when longer. code 0 writes
 * the text alone. text may be NULL. */
void relay_reply_line(int code, const char *text, char *out, size_t outlen);

#endif

/* status.h: protocol outcomes as data, so handlers never invent reply strings ad hoc.
 *
 * A status carries the SMTP basic code, the RFC 3463 enhanced code and the human
 * text; IMAP maps it onto OK/NO/BAD with a response code. */
#ifndef MSS_STATUS_H
#define MSS_STATUS_H

struct mss_status {
	int code;          /* 250, 451, 550, ... ; 0 = accepted/ok */
	char enhanced[12]; /* "5.7.1" */
	char text[256];    /* one line, no CR/LF, never secret or health content */
};

#endif

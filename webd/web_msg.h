/* web_msg.h: the messages between mss-webd's two processes of one connection (issue
 * 12; doc/architecture.md "webd/: the patient's web space").
 *
 * The front process (login_user, chrooted, no database: libmicrohttpd's TLS, HTTP and
 * form parsing) turns each request into one REQUEST message: the method, the page,
 * its query arguments, the session and login cookies, the form fields (the CSRF token
 * is one of them); nothing else of the HTTP request crosses. The session process
 * (user, the database) runs the page and answers one RESPONSE: status, the headers a
 * page may set, and the body. Both go over the connection's SOCK_STREAM socketpair as
 * a fixed header (magic, version, type, payload length) and a payload of counted
 * fields, every count and length bounded by the receiver's own limits (web.h, the
 * configured web_max_form, the 64 MiB page limit) and checked before use: a message
 * that does not check is refused whole, and its sender ended by the caller. */
#ifndef MSS_WEB_MSG_H
#define MSS_WEB_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "webd/web.h"

#define WEB_MSG_MAGIC 0x5753534Du /* "MSSW" */
#define WEB_MSG_VERSION 1
#define WEB_MSG_HEAD_SIZE 12
/* The payload of a REQUEST beyond its form values: path, query arguments, cookies,
 * field names and the counts and lengths that frame them. */
#define WEB_MSG_REQ_OVERHEAD (64 * 1024)
/* The payload of a RESPONSE beyond its body: status, flags and the header values. */
#define WEB_MSG_RESP_OVERHEAD (4 * 1024)

enum web_msg_type { WEB_MSG_REQUEST = 1, WEB_MSG_RESPONSE = 2 };

enum web_msg_read { WEB_MSG_OK, WEB_MSG_EOF, WEB_MSG_REFUSED };

/* The request part of r (method, path, query, cookies, form) as a REQUEST frame into
 * out (BUF_UNLIMITED). */
void web_msg_put_request(struct buf *out, const struct web_req *r);
/* The response part of r as a RESPONSE frame into out (BUF_UNLIMITED). */
void web_msg_put_response(struct buf *out, const struct web_req *r);
/* A REQUEST payload into the request part of r (whose form values are bounded by
 * max_form in all). Returns 0, or -1 with err (nothing of r to be used). */
int web_msg_get_request(const uint8_t *p, size_t len, struct web_req *r, size_t max_form, char *err,
                        size_t errlen);
/* A RESPONSE payload into the response part of r. Returns 0, or -1 with err. */
int web_msg_get_response(const uint8_t *p, size_t len, struct web_req *r, char *err, size_t errlen);

/* Reads one frame of type from fd (blocking) into payload: WEB_MSG_EOF when fd ends
 * before a frame begins, WEB_MSG_REFUSED with err for a wrong header, a payload over
 * max, or a frame cut short. */
enum web_msg_read web_msg_read(int fd, enum web_msg_type type, size_t max, struct buf *payload, char *err,
                               size_t errlen);
/* Writes the whole of b to fd. Returns 0, or -1 when the other process is gone. */
int web_msg_write(int fd, const struct buf *b);

#endif

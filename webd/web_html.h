/* web_html.h: the HTML of mss-webd's pages: the one escaping helper, and the frame
 * every page shares (French, plain HTML and CSS, no script; RGAA: a language, a
 * title per page, a skip link, labelled fields, visible focus). */
#ifndef MSS_WEB_HTML_H
#define MSS_WEB_HTML_H

#include "lib/buf.h"
#include "webd/web.h"

/* Markup into a page (r->body). An append past the page's limit (64 MiB, web_http.c)
 * is refused and recorded in body.refused: the page is then answered 500, whole,
 * never sent cut (web_http.c). */
void web_puts(struct buf *b, const char *s);
void web_putc(struct buf *b, char c);
void web_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s to b with & < > " ' escaped: the only way data and client text enter a
 * page (text and attribute values alike). */
void web_esc(struct buf *b, const char *s);
/* Appends the first n bytes of s, escaped likewise (NUL bytes dropped). */
void web_esc_n(struct buf *b, const char *s, size_t n);
/* Opens a page titled title (escaped): doctype, head, header and, when logged in,
 * the navigation (current: the path shown as the current page) and the logout
 * button. */
void web_page_open(struct web_req *r, const char *title);
/* Closes what web_page_open opened. */
void web_page_close(struct web_req *r);
/* The hidden CSRF field of the session's forms. */
void web_csrf_field(struct web_req *r);
/* An error or confirmation notice (role="alert" / "status"), text escaped. */
void web_notice(struct web_req *r, bool error, const char *text);
/* The style sheet served at /style.css. */
extern const char web_css[];

#endif

/* web_html.c: escaping and the page frame (web_html.h). */
#include "webd/web_html.h"

#include "lib/html.h"
#include "lib/log.h"

#include <stdarg.h>
#include <string.h>

/* A refused append is recorded in b->refused, which web_http.c answers (500, the page
 * never sent cut): nothing more to do here. */
void web_puts(struct buf *b, const char *s)
{
	if (buf_append_str(b, s) < 0)
		return;
}

void web_putc(struct buf *b, char c)
{
	if (buf_append_char(b, c) < 0)
		return;
}

void web_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (buf_vprintf(b, fmt, ap) < 0)
		b->refused = true; /* a format error too: never a page with a hole */
	va_end(ap);
}

void web_esc_n(struct buf *b, const char *s, size_t n)
{
	if (html_escape(b, s, n) < 0) /* all or nothing at the limit: recorded for web_http.c */
		b->refused = true;
}

void web_esc(struct buf *b, const char *s)
{
	if (s != NULL)
		web_esc_n(b, s, strlen(s));
}

static const struct {
	const char *path, *label;
} nav[] = {
    {"/documents", "Mes documents"},         {"/professionnels", "Mes professionnels"},
    {"/profil", "Mon profil médical"},       {"/constantes", "Mes constantes"},
    {"/vaccinations", "Mes vaccinations"},   {"/historique", "Mon historique"},
    {"/notifications", "Mes notifications"}, {"/mot-de-passe", "Mon mot de passe"},
};

static void navigation(struct web_req *r)
{
	struct buf *b = &r->body;

	web_puts(b, "<nav aria-label=\"Menu principal\"><ul>");
	for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++) {
		web_puts(b, "<li><a href=\"");
		web_esc(b, nav[i].path);
		web_puts(b, "\"");
		if (strcmp(r->path, nav[i].path) == 0)
			web_puts(b, " aria-current=\"page\"");
		web_puts(b, ">");
		web_esc(b, nav[i].label);
		web_puts(b, "</a></li>");
	}
	web_puts(b, "</ul><form method=\"post\" action=\"/logout\" class=\"logout\">");
	web_csrf_field(r);
	web_puts(b, "<button type=\"submit\">Se déconnecter</button></form></nav>");
}

void web_page_open(struct web_req *r, const char *title)
{
	struct buf *b = &r->body;

	web_puts(b, "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	            "<title>");
	web_esc(b, title);
	web_puts(b, " – Mon espace santé</title><link rel=\"stylesheet\" href=\"/style.css\"></head>"
	            "<body><a class=\"skip\" href=\"#contenu\">Aller au contenu</a>"
	            "<header><p class=\"brand\">Mon espace santé</p>");
	if (r->logged_in) {
		web_puts(b, "<p class=\"who\">Connecté : ");
		web_esc(b, r->sess.account);
		web_puts(b, "</p>");
		navigation(r);
	}
	web_puts(b, "</header><main id=\"contenu\"><h1>");
	web_esc(b, title);
	web_puts(b, "</h1>");
}

void web_page_close(struct web_req *r)
{
	web_puts(&r->body, "</main></body></html>\n");
}

void web_csrf_field(struct web_req *r)
{
	web_puts(&r->body, "<input type=\"hidden\" name=\"csrf\" value=\"");
	web_esc(&r->body, r->sess.csrf);
	web_puts(&r->body, "\">");
}

void web_notice(struct web_req *r, bool error, const char *text)
{
	web_puts(&r->body, error ? "<p class=\"error\" role=\"alert\">" : "<p class=\"ok\" role=\"status\">");
	web_esc(&r->body, text);
	web_puts(&r->body, "</p>");
}

/* Contrast: every text colour on its background is above 4.5:1 (RGAA 3.2). */
const char web_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1e1e1e;background:#fff;line-height:1.5}\n"
    "header{background:#000091;color:#fff;padding:.5rem 1rem}\n"
    "header a{color:#fff}\n"
    ".brand{font-weight:bold;font-size:1.25rem;margin:0}\n"
    ".who{margin:.25rem 0}\n"
    "nav ul{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:1rem}\n"
    "nav a[aria-current]{font-weight:bold;text-decoration:underline}\n"
    ".logout{display:inline}\n"
    "main{padding:1rem;max-width:60rem}\n"
    ".skip{position:absolute;left:-999px}\n"
    ".skip:focus{left:1rem;top:1rem;background:#fff;color:#000091;padding:.5rem}\n"
    "a{color:#000091}\n"
    ":focus{outline:3px solid #e1000f;outline-offset:2px}\n"
    "label{display:block;font-weight:bold;margin-top:.75rem}\n"
    "input,select,textarea{font:inherit;padding:.35rem;border:1px solid #3a3a3a}\n"
    "button{font:inherit;padding:.35rem .9rem;background:#000091;color:#fff;border:1px solid #000091;"
    "cursor:pointer}\n"
    "header button{background:#fff;color:#000091}\n"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}\n"
    "th,td{border:1px solid #929292;padding:.35rem .5rem;text-align:left;vertical-align:top}\n"
    "td form{display:inline}\n"
    ".error{border-left:4px solid #ce0500;background:#ffe9e9;padding:.5rem}\n"
    ".ok{border-left:4px solid #18753c;background:#b8fec9;padding:.5rem}\n"
    ".masked{color:#6a6a6a;font-style:italic}\n"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}\n"
    ".history li{margin-bottom:.75rem}\n"
    ".history .what{font-weight:bold;margin:0}\n"
    ".history .lines{white-space:pre-line;margin:0}\n"
    ".chart{width:100%;max-width:600px;height:auto;border:1px solid #929292}\n"
    "caption{text-align:left;font-weight:bold}\n"
    "label.inline{display:inline;font-weight:normal;margin:0}\n"
    "fieldset{border:1px solid #929292;margin:1rem 0}\n"
    "legend{font-weight:bold}\n"
    ".help,.version{margin:.25rem 0;color:#3a3a3a}\n"
    "textarea{width:100%;max-width:40rem}\n";

/* web_vitals.c: the patient's vital signs (web.h): a form to record one measurement
 * (vault_vitals.h checks and files it in Constantes), and for each kind a chart drawn
 * here as SVG (no script, no image library) with the same values as a table beside it
 * for screen readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_vitals.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define VITALS_MAX 2000 /* measurements read for the page */
#define TABLE_ROWS 10   /* latest values listed under each chart */
#define CHART_W 600
#define CHART_H 220
#define PAD_L 60
#define PAD_R 20
#define PAD_T 20
#define PAD_B 40

struct vitals {
	struct vault_vital *v;
	size_t n;
};

static int keep(const struct vault_vital *v, void *arg)
{
	struct vitals *x = arg;

	x->v[x->n++] = *v;
	return x->n >= VITALS_MAX;
}

static int by_time(const void *a, const void *b)
{
	const struct vault_vital *x = a, *y = b;

	return x->when < y->when ? -1 : x->when > y->when ? 1 : (x->uid < y->uid ? -1 : x->uid > y->uid);
}

static void svg_text(struct web_req *r, long x, long y, const char *anchor, const char *text)
{
	web_printf(&r->body,
	           "<text x=\"%ld\" y=\"%ld\" font-size=\"12\" text-anchor=\"%s\" fill=\"#1e1e1e\">", x, y,
	           anchor);
	web_esc(&r->body, text);
	web_puts(&r->body, "</text>");
}

/* The chart of the n measurements of one kind (sorted by time). */
static void chart(struct web_req *r, const struct vault_vital_kind *k, const struct vault_vital *v, size_t n)
{
	int64_t lo = v[0].value, hi = v[0].value, t0 = v[0].when, t1 = v[n - 1].when;
	char a[32], b[32], title[300];
	long w = CHART_W - PAD_L - PAD_R, h = CHART_H - PAD_T - PAD_B;

	for (size_t i = 1; i < n; i++) {
		lo = v[i].value < lo ? v[i].value : lo;
		hi = v[i].value > hi ? v[i].value : hi;
	}
	if (hi == lo) {
		lo -= 100;
		hi += 100;
	}
	vault_vital_format(k, lo, a, sizeof(a));
	vault_vital_format(k, hi, b, sizeof(b));
	str_assert(str_format(title, sizeof(title), "%s : %zu mesure(s), entre %s et %s %s", k->label, n, a,
	                      b, k->unit_shown),
	           "a kind's label and unit (constants), a count and two 32-byte values fit 300");
	web_printf(&r->body,
	           "<svg class=\"chart\" role=\"img\" aria-labelledby=\"t%s\" viewBox=\"0 0 %d %d\">",
	           k->loinc, CHART_W, CHART_H);
	web_printf(&r->body, "<title id=\"t%s\">", k->loinc);
	web_esc(&r->body, title);
	web_printf(&r->body,
	           "</title><rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>"
	           "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#3a3a3a\"/>"
	           "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#3a3a3a\"/>",
	           CHART_W, CHART_H, PAD_L, PAD_T, PAD_L, CHART_H - PAD_B, PAD_L, CHART_H - PAD_B,
	           CHART_W - PAD_R, CHART_H - PAD_B);
	svg_text(r, PAD_L - 6, PAD_T + 4, "end", b);
	svg_text(r, PAD_L - 6, CHART_H - PAD_B, "end", a);
	web_puts(&r->body, "<polyline fill=\"none\" stroke=\"#000091\" stroke-width=\"2\" points=\"");
	for (size_t i = 0; i < n; i++) {
		long x =
		    PAD_L + (t1 == t0 ? w / 2 : (long)((double)(v[i].when - t0) * w / (double)(t1 - t0)));
		long y = PAD_T + h - (long)((double)(v[i].value - lo) * h / (double)(hi - lo));
		web_printf(&r->body, "%s%ld,%ld", i ? " " : "", x, y);
	}
	web_puts(&r->body, "\"/>");
	for (size_t i = 0; i < n; i++) {
		long x =
		    PAD_L + (t1 == t0 ? w / 2 : (long)((double)(v[i].when - t0) * w / (double)(t1 - t0)));
		long y = PAD_T + h - (long)((double)(v[i].value - lo) * h / (double)(hi - lo));
		web_printf(&r->body, "<circle cx=\"%ld\" cy=\"%ld\" r=\"4\" fill=\"#000091\"/>", x, y);
	}
	mss_date_french(r->d->cfg.timezone, t0, false, a, sizeof(a));
	svg_text(r, PAD_L, CHART_H - PAD_B + 20, "start", a);
	if (t1 != t0) {
		mss_date_french(r->d->cfg.timezone, t1, false, b, sizeof(b));
		svg_text(r, CHART_W - PAD_R, CHART_H - PAD_B + 20, "end", b);
	}
	web_puts(&r->body, "</svg>");
}

static void table(struct web_req *r, const struct vault_vital_kind *k, const struct vault_vital *v, size_t n)
{
	char when[64], value[32];

	web_puts(&r->body, "<table><caption>Dernières mesures</caption><thead><tr><th scope=\"col\">Date</th>"
	                   "<th scope=\"col\">Valeur</th></tr></thead><tbody>");
	for (size_t i = n; i > 0 && n - i < TABLE_ROWS; i--) {
		mss_date_french(r->d->cfg.timezone, v[i - 1].when, false, when, sizeof(when));
		vault_vital_format(k, v[i - 1].value, value, sizeof(value));
		web_puts(&r->body, "<tr><td>");
		web_esc(&r->body, when);
		web_puts(&r->body, "</td><td>");
		web_esc(&r->body, value);
		web_puts(&r->body, " ");
		web_esc(&r->body, k->unit_shown);
		web_puts(&r->body, "</td></tr>");
	}
	web_puts(&r->body, "</tbody></table>");
}

static void form(struct web_req *r)
{
	size_t nk;
	const struct vault_vital_kind *k = vault_vital_kinds(&nk);
	const char *chosen = r->post ? web_field(r, "kind") : NULL;

	web_puts(&r->body, "<h2>Enregistrer une mesure</h2><form method=\"post\" action=\"/constantes\">");
	web_csrf_field(r);
	web_puts(&r->body, "<label for=\"kind\">Mesure</label><select id=\"kind\" name=\"kind\">");
	for (size_t i = 0; i < nk; i++) {
		web_puts(&r->body, "<option value=\"");
		web_esc(&r->body, k[i].loinc);
		web_puts(&r->body,
		         chosen != NULL && strcmp(chosen, k[i].loinc) == 0 ? "\" selected>" : "\">");
		web_esc(&r->body, k[i].label);
		web_puts(&r->body, " (");
		web_esc(&r->body, k[i].unit_shown);
		web_puts(&r->body, ")</option>");
	}
	web_puts(&r->body, "</select><label for=\"value\">Valeur</label>"
	                   "<input id=\"value\" name=\"value\" inputmode=\"decimal\" required size=\"8\">"
	                   "<label for=\"when\">Date et heure de la mesure (facultatif : maintenant)</label>"
	                   "<input id=\"when\" name=\"when\" type=\"datetime-local\">"
	                   "<p><button type=\"submit\">Enregistrer</button></p></form>");
}

static void page(struct web_req *r, unsigned status, const char *error)
{
	struct vitals x = {xcalloc(VITALS_MAX, sizeof(struct vault_vital)), 0};
	size_t nk;
	const struct vault_vital_kind *k = vault_vital_kinds(&nk);

	if (vault_vitals_foreach(r->st, r->sess.account, keep, &x) < 0) {
		free(x.v);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	qsort(x.v, x.n, sizeof(x.v[0]), by_time);
	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Mes constantes");
	if (error != NULL)
		web_notice(r, true, error);
	else if (web_query(r, "fait") != NULL && strcmp(web_query(r, "fait"), "ajoute") == 0)
		web_notice(r, false, "La mesure est enregistrée.");
	form(r);
	for (size_t i = 0; i < nk; i++) {
		struct vault_vital *mine = xcalloc(x.n + 1, sizeof(*mine));
		size_t n = 0;
		for (size_t j = 0; j < x.n; j++)
			if (x.v[j].kind == &k[i])
				mine[n++] = x.v[j];
		if (n > 0) {
			web_puts(&r->body, "<h2>");
			web_esc(&r->body, k[i].label);
			web_puts(&r->body, "</h2>");
			chart(r, &k[i], mine, n);
			table(r, &k[i], mine, n);
		}
		free(mine);
	}
	if (x.n == 0)
		web_puts(&r->body, "<p>Aucune mesure enregistrée pour le moment.</p>");
	web_page_close(r);
	free(x.v);
}

void web_page_vitals(struct web_req *r)
{
	page(r, 200, NULL);
}

/* "2026-12-05T09:30" in the configured zone -> unix time. Returns 0 or -1. */
static int local_time(const char *zone, const char *s, int64_t *out)
{
	int y, mo, d, h, mi, used = 0;
	struct tm tm, lt;
	long off = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5 || s[used] != '\0' ||
	    strlen(s) != 16 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	int64_t naive = (int64_t)timegm(&tm), t = naive;
	for (int i = 0; i < 2; i++) { /* the zone's offset at that moment (twice: across a change) */
		mss_localtime(zone, t, &lt, &off);
		t = naive - off;
	}
	mss_localtime(zone, t, &lt, &off);
	if (lt.tm_mday != d || lt.tm_mon != mo - 1) /* 31 February, or a time the zone skipped */
		return -1;
	*out = t;
	return 0;
}

void web_post_vital(struct web_req *r)
{
	const struct vault_vital_kind *k = vault_vital_kind(web_field(r, "kind"));
	const char *value = web_field(r, "value"), *when_text = web_field(r, "when");
	struct vault_actor who = {r->sess.account, "password", r->peer};
	int64_t v, when = (int64_t)time(NULL);
	char why[300], err[340];

	if (k == NULL) {
		page(r, 400, "Choisissez une mesure dans la liste. Rien n'a été enregistré.");
		return;
	}
	if (vault_vital_parse(k, value != NULL ? value : "", &v, why, sizeof(why)) < 0) {
		str_error(err, sizeof(err), "%s Rien n'a été enregistré.", why);
		page(r, 400, err);
		return;
	}
	if (when_text != NULL && when_text[0] != '\0' &&
	    local_time(r->d->cfg.timezone, when_text, &when) < 0) {
		page(r, 400, "La date de la mesure n'est pas valide. Rien n'a été enregistré.");
		return;
	}
	if (when > (int64_t)time(NULL) + 300) {
		page(r, 400, "La date de la mesure est dans le futur. Rien n'a été enregistré.");
		return;
	}
	if (vault_vital_add(r->st, &who, r->sess.account, k, v, when, err, sizeof(err)) < 0) {
		log_err("web.vital", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été enregistré.");
		return;
	}
	web_redirect(r, "/constantes?fait=ajoute");
}

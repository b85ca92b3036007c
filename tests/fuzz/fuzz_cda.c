/* fuzz-libs: vault lib */
/* fuzz_cda.c: the CDA reader on hostile XML: what the vault reads of a document (its
 * patient, code, title, date, version) and its narrative rendered as HTML.
 *
 * Invariants: never crashes; the HTML never holds a tag the renderer did not write
 * itself (no "<script", no attribute: every '<' opens one of the fixed tags) and is
 * bounded. The vaccination reader (vault_vacc_from_cda) keeps to its maximum and
 * gives NUL-terminated UTF-8 fields without control characters. */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "vault/vault_cda.h"
#include "vault/vault_vacc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool allowed_tag(const char *p, size_t n)
{
	static const char *const tags[] = {"!DOCTYPE html>",
	                                   "html>",
	                                   "html lang=\"fr\">",
	                                   "head>",
	                                   "meta charset=\"utf-8\">",
	                                   "title>",
	                                   "body>",
	                                   "h1>",
	                                   "h2>",
	                                   "h3>",
	                                   "h4>",
	                                   "h5>",
	                                   "h6>",
	                                   "div>",
	                                   "p>",
	                                   "ul>",
	                                   "ol>",
	                                   "li>",
	                                   "table>",
	                                   "thead>",
	                                   "tbody>",
	                                   "tfoot>",
	                                   "tr>",
	                                   "th>",
	                                   "td>",
	                                   "caption>",
	                                   "sub>",
	                                   "sup>",
	                                   "small>",
	                                   "span>",
	                                   "b>",
	                                   "i>",
	                                   "u>",
	                                   "br>"};
	if (n > 0 && p[0] == '/') {
		p++;
		n--;
	}
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
		if (n >= strlen(tags[i]) && memcmp(p, tags[i], strlen(tags[i])) == 0)
			return true;
	return false;
}

static void check_field(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap || !str_is_utf8(s, n))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void vaccinations(const uint8_t *data, size_t size)
{
	static struct vault_vacc_entry e[8];
	size_t n = 99;
	char err[160];
	if (vault_vacc_from_cda((const char *)data, size, e, 8, &n, err, sizeof err) != 0) {
		if (n != 0)
			abort();
		return;
	}
	if (n > 8)
		abort();
	for (size_t i = 0; i < n; i++) {
		check_field(e[i].vaccine, sizeof e[i].vaccine);
		check_field(e[i].dose, sizeof e[i].dose);
		check_field(e[i].who, sizeof e[i].who);
		if (e[i].date[0] && strlen(e[i].date) != 10)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cda_info ci;
	struct buf out;
	char err[160];
	(void)cda_parse((const char *)data, size, &ci, err, sizeof err);
	vaccinations(data, size);
	buf_init(&out, BUF_UNLIMITED);
	if (cda_render_html((const char *)data, size, &out, err, sizeof err) == 0) {
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] == '<' && !allowed_tag(out.data + i + 1, out.len - i - 1))
				abort();
		if (out.len > 8u * 1024 * 1024)
			abort();
	}
	buf_free(&out);
	return 0;
}

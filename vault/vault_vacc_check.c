/* vault_vacc_check.c: a vaccination the patient declares, checked (vault_vacc.h). */
#include "vault/vault_vacc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/str.h"

static int why_is(char *why, size_t whylen, const char *text)
{
	if (str_copy(why, whylen, text) < 0)
		log_warn("vault.vaccination", "error=\"message cut\"");
	return -1;
}

/* Characters of a UTF-8 string, -1 when it is not UTF-8 or holds a control character. */
static long chars(const char *s)
{
	long n = 0;
	if (!str_is_utf8(s, strlen(s)))
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return -1;
		n += (*p & 0xc0) != 0x80;
	}
	return n;
}

/* A real day "YYYY-MM-DD" between 1900-01-01 and today. */
static bool good_date(const char *d, const char *today)
{
	int y, mo, day, used = 0;
	struct tm tm = {0};

	if (strlen(d) != 10 || sscanf(d, "%4d-%2d-%2d%n", &y, &mo, &day, &used) != 3 || used != 10 ||
	    d[4] != '-' || d[7] != '-' || y < 1900 || mo < 1 || mo > 12 || day < 1 || day > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = day;
	tm.tm_hour = 12;
	time_t t = timegm(&tm);
	gmtime_r(&t, &tm);
	return tm.tm_mday == day && strcmp(d, today) <= 0;
}

int vault_vacc_check(const char *vaccine, const char *date, const char *dose, const char *who,
                     const char *today, struct vault_vacc_entry *out, char *why, size_t whylen)
{
	char v[VAULT_VACC_TEXT], d[VAULT_VACC_DOSE], w[VAULT_VACC_TEXT];
	long nv, nd, nw;

	memset(out, 0, sizeof(*out));
	if (str_copy(v, sizeof(v), vaccine ? vaccine : "") < 0 || (nv = chars(str_trim(v))) < 0 ||
	    nv > VAULT_VACC_TEXT_CHARS)
		return why_is(why, whylen,
		              "Le nom du vaccin doit faire au plus 100 caractères, sans caractère de "
		              "contrôle.");
	if (nv == 0)
		return why_is(why, whylen, "Indiquez le nom du vaccin.");
	if (date == NULL || !good_date(date, today))
		return why_is(
		    why, whylen,
		    "La date de la vaccination doit être une vraie date (jj/mm/aaaa), entre 1900 et "
		    "aujourd'hui.");
	if (str_copy(d, sizeof(d), dose ? dose : "") < 0 || (nd = chars(str_trim(d))) < 0 ||
	    nd > VAULT_VACC_DOSE_CHARS)
		return why_is(why, whylen,
		              "La dose doit faire au plus 30 caractères (par exemple 1, 2 ou rappel).");
	if (str_copy(w, sizeof(w), who ? who : "") < 0 || (nw = chars(str_trim(w))) < 0 ||
	    nw > VAULT_VACC_TEXT_CHARS)
		return why_is(why, whylen,
		              "Le nom de qui a vacciné doit faire au plus 100 caractères, sans caractère de "
		              "contrôle.");
	memcpy(out->vaccine, v, sizeof(out->vaccine));
	memcpy(out->date, date, sizeof(out->date));
	memcpy(out->dose, d, sizeof(out->dose));
	memcpy(out->who, w, sizeof(out->who));
	out->self_declared = true;
	return 0;
}

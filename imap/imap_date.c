/* imap_date.c: IMAP date and date-time text (RFC 9051 9). */
#include "imap/imap_date.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int month_of(const char *m)
{
	for (int i = 0; i < 12; i++)
		if (str_ieqn(m, months[i], 3))
			return i;
	return -1;
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* "d-Mon-yyyy" or "dd-Mon-yyyy" (a leading space, as in date-day-fixed, allowed);
 * returns the characters used or -1. */
static int parse_day(const char *s, struct tm *tm)
{
	const char *p = s;
	if (*p == ' ')
		p++;
	int day, year;
	if (p[0] == '\0')
		return -1;
	int nd = (p[1] == '-') ? 1 : 2;
	if (digits(p, nd, &day) < 0 || p[nd] != '-')
		return -1;
	p += nd + 1;
	int mon = month_of(p);
	if (mon < 0 || strlen(p) < 4 || p[3] != '-')
		return -1;
	p += 4;
	if (digits(p, 4, &year) < 0 || day < 1 || day > 31 || year < 1970 || year > 9999)
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = mon;
	tm->tm_year = year - 1900;
	return (int)(p + 4 - s);
}

int imap_date_parse(const char *s, int64_t *out)
{
	struct tm tm;
	int n = parse_day(s, &tm);
	if (n < 0 || s[n] != '\0')
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int imap_date_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	int n = parse_day(s, &tm);
	if (n < 0)
		return -1;
	const char *p = s + n;
	int hh, mm, ss, zh, zm;
	if (strlen(p) != 15 || p[0] != ' ' || digits(p + 1, 2, &hh) < 0 || p[3] != ':' ||
	    digits(p + 4, 2, &mm) < 0 || p[6] != ':' || digits(p + 7, 2, &ss) < 0 || p[9] != ' ' ||
	    (p[10] != '+' && p[10] != '-') || digits(p + 11, 2, &zh) < 0 || digits(p + 13, 2, &zm) < 0)
		return -1;
	if (hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	int64_t t = (int64_t)timegm(&tm);
	int64_t off = (int64_t)(zh * 3600 + zm * 60);
	*out = p[10] == '+' ? t - off : t + off;
	return 0;
}

void imap_date_time_format(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	str_assert(str_format(out, outlen, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
	                      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec),
	           "26 bytes (a 4-digit year: imap_date_time_parse reads no other) into 32 or more");
}

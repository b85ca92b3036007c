/* localtime.c: dates in the configured zone (see localtime.h). */
#include "lib/localtime.h"

#include <stdlib.h>
#include <string.h>

#include "lib/str.h"

/* Points the process's local time at zone, once per change (tzset reads the file). */
static void use_zone(const char *zone)
{
	static char current[256] = "";
	static bool set = false;
	const char *z = zone && zone[0] ? zone : "UTC";
	if (set && strcmp(current, z) == 0)
		return;
	char tz[300];
	if (str_format(tz, sizeof tz, ":%s", z) != 0 || setenv("TZ", tz, 1) != 0)
		return;
	tzset();
	/* a zone that does not fit is set each time instead of remembered */
	set = str_copy(current, sizeof current, z) == 0;
}

void mss_localtime(const char *zone, int64_t t, struct tm *tm, long *gmtoff)
{
	time_t tt = (time_t)t;
	use_zone(zone);
	if (localtime_r(&tt, tm) == NULL) {
		memset(tm, 0, sizeof *tm);
		gmtime_r(&tt, tm);
	}
	*gmtoff = tm->tm_gmtoff;
}

void mss_date_rfc5322(const char *zone, int64_t t, char *out, size_t outlen)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off;
	mss_localtime(zone, t, &tm, &off);
	long a = off < 0 ? -off : off;
	/* Spelled out rather than strftime, which follows the locale. */
	if (str_format(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7],
	               tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	               tm.tm_sec, off < 0 ? '-' : '+', a / 3600, (a % 3600) / 60) != 0 &&
	    outlen > 0)
		out[0] = '\0'; /* out shorter than a date: no half date (localtime.h) */
}

void mss_date_french(const char *zone, int64_t t, bool seconds, char *out, size_t outlen)
{
	struct tm tm;
	long off;
	mss_localtime(zone, t, &tm, &off);
	int rc = seconds ? str_format(out, outlen, "le %02d/%02d/%04d à %02d:%02d:%02d", tm.tm_mday,
	                              tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec)
	                 : str_format(out, outlen, "le %02d/%02d/%04d à %02d:%02d", tm.tm_mday, tm.tm_mon + 1,
	                              tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
	if (rc != 0 && outlen > 0)
		out[0] = '\0';
}

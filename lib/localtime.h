/* localtime.h: time as the people reading it live it.
 *
 * Whatever a patient reads (Historique entries, notifications, the documents' dates)
 * is in the configured zone (config key timezone, default Europe/Paris), with French
 * wording; logs and the audit log stay in UTC. The zone is applied lazily to the
 * process (TZ + tzset) by each call, so no daemon needs a start-up step. */
#ifndef MSS_LOCALTIME_H
#define MSS_LOCALTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Broken-down time of t in zone (an IANA name checked by the config parser; NULL or
 * "" for UTC) and its offset from UTC in seconds. */
void mss_localtime(const char *zone, int64_t t, struct tm *tm, long *gmtoff);
/* RFC 5322 3.3 date-time in zone, English names as the RFC wants:
 * "Sun, 29 Nov 2026 09:30:00 +0100". */
void mss_date_rfc5322(const char *zone, int64_t t, char *out, size_t outlen);
/* French, in zone: "le 29/11/2026 à 09:30:00" (seconds) or "le 29/11/2026 à 09:30". */
void mss_date_french(const char *zone, int64_t t, bool seconds, char *out, size_t outlen);

#endif

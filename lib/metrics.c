/* metrics.c: the shared page of counters (metrics.h) and its OpenMetrics text. */

#include "lib/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/str.h"

#define METRICS_MAGIC 0x4d53534d45545231ULL /* "MSSMETR1" */
#define METRICS_VERSION 1
#define METRICS_BUCKETS 12
#define MAX_LABELS 3

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_READY };

struct slot {
	uint32_t state; /* SLOT_*: a reader uses only READY slots */
	uint32_t family;
	char labels[METRICS_LABELS_MAX];
	uint64_t value;
};

struct histogram {
	uint64_t bucket[METRICS_BUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t count;
	uint64_t sum_usec;
};

struct page {
	uint64_t magic;
	uint32_t version;
	uint32_t size;
	struct slot slots[METRICS_SLOTS];
	uint64_t gauges[METRICS_GAUGES];
	struct histogram hist[METRICS_HISTOGRAMS];
};

struct family {
	const char *name; /* without _total */
	const char *help;
	const char *labels[MAX_LABELS];
};

static const struct family counters[METRICS_COUNTER_FAMILIES] = {
    [METRICS_SESSIONS] = {"mss_sessions", "Connections accepted, by listener.", {"listener"}},
    [METRICS_DELIVERIES] = {"mss_deliveries", "Messages at the end of DATA, by outcome.", {"result"}},
    [METRICS_SMTP_REFUSALS] = {"mss_smtp_refusals",
                               "SMTP 4xx and 5xx replies, by reason.",
                               {"reason", "code", "enhanced"}},
    [METRICS_AUTH_FAILURES] = {"mss_auth_failures",
                               "Failed logins (password or token), by protocol.",
                               {"protocol", "result"}},
    [METRICS_IMAP_REFUSALS] = {"mss_imap_refusals", "IMAP tagged NO and BAD replies.", {"result"}},
};

static const char *const gauge_names[METRICS_GAUGES][2] = {
    [METRICS_SMTPD_SESSIONS] = {"mss_sessions_running", "smtpd"},
    [METRICS_IMAPD_SESSIONS] = {"mss_sessions_running", "imapd"},
};

static const char *const hist_names[METRICS_HISTOGRAMS][3] = {
    [METRICS_SMTP_COMMAND] = {"mss_command_seconds", "daemon", "smtpd"},
    [METRICS_IMAP_COMMAND] = {"mss_command_seconds", "daemon", "imapd"},
    [METRICS_DELIVERY] = {"mss_delivery_seconds", NULL, NULL},
};

/* Upper bounds in microseconds: a command is milliseconds, a delivery with Argon2id or
 * a large message up to seconds. */
static const uint64_t bounds_usec[METRICS_BUCKETS] = {1000,   5000,   10000,   25000,   50000,   100000,
                                                      250000, 500000, 1000000, 2500000, 5000000, 10000000};

static struct page *page;

int metrics_path(const struct mss_config *cfg, char *out, size_t outlen)
{
	return config_data_path(cfg, "run/metrics", out, outlen);
}

/* Under the file lock: a page of another layout (an upgrade) starts again from zero. */
static int shape(int fd, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		str_error(err, errlen, "not a regular file");
		return -1;
	}
	struct page head = {0};
	ssize_t n = pread(fd, &head, sizeof head.magic + sizeof head.version + sizeof head.size, 0);
	if (n >= 0 && (size_t)st.st_size == sizeof(struct page) && head.magic == METRICS_MAGIC &&
	    head.version == METRICS_VERSION && head.size == sizeof(struct page))
		return 0;
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(struct page)) < 0) {
		str_error(err, errlen, "%s", strerror(errno));
		return -1;
	}
	head.magic = METRICS_MAGIC;
	head.version = METRICS_VERSION;
	head.size = sizeof(struct page);
	if (pwrite(fd, &head, sizeof head.magic + sizeof head.version + sizeof head.size, 0) < 0) {
		str_error(err, errlen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

int metrics_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char why[256];
	int rc = -1;
	if (flock(fd, LOCK_EX) < 0) {
		str_error(why, sizeof why, "%s", strerror(errno));
	} else if (shape(fd, why, sizeof why) == 0) {
		void *p = mmap(NULL, sizeof(struct page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			str_error(why, sizeof why, "%s", strerror(errno));
		} else {
			if (page != NULL)
				munmap(page, sizeof(struct page));
			page = p;
			rc = 0;
		}
	}
	/* said explicitly: the mapping holds the open file, so close alone would keep the
	 * lock for as long as the page is mapped */
	(void)flock(fd, LOCK_UN);
	close(fd);
	if (rc < 0)
		str_error(err, errlen, "%s: %s", path, why);
	return rc;
}

/* values joined by '\x1f' (not a character of any label value we write). */
static int join(enum metrics_counter f, const char *const *values, char out[METRICS_LABELS_MAX])
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < MAX_LABELS && counters[f].labels[i] != NULL; i++) {
		size_t len = strlen(values[i]);
		if (n + len + 2 > METRICS_LABELS_MAX)
			return -1;
		if (i > 0)
			out[n++] = '\x1f';
		memcpy(out + n, values[i], len);
		n += len;
		out[n] = '\0';
	}
	return 0;
}

/* The slot of (f, labels), claimed when absent. Two processes claiming the same label
 * set at once may each get a slot: the text sums them. NULL when the page is full. */
static struct slot *find_slot(enum metrics_counter f, const char *labels)
{
	for (size_t i = 0; i < METRICS_SLOTS; i++) {
		struct slot *s = &page->slots[i];
		uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (state == SLOT_READY && s->family == (uint32_t)f && strcmp(s->labels, labels) == 0)
			return s;
		if (state != SLOT_FREE)
			continue;
		uint32_t expected = SLOT_FREE;
		if (!__atomic_compare_exchange_n(&s->state, &expected, SLOT_CLAIMED, false, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_ACQUIRE))
			continue;
		s->family = (uint32_t)f;
		memcpy(s->labels, labels, strlen(labels) + 1);
		__atomic_store_n(&s->state, SLOT_READY, __ATOMIC_RELEASE);
		return s;
	}
	return NULL;
}

void metrics_count(enum metrics_counter f, const char *const *values)
{
	char labels[METRICS_LABELS_MAX];
	if (page == NULL || (unsigned)f >= METRICS_COUNTER_FAMILIES || join(f, values, labels) < 0)
		return;
	struct slot *s = find_slot(f, labels);
	if (s != NULL)
		__atomic_fetch_add(&s->value, 1, __ATOMIC_RELAXED);
}

void metrics_count1(enum metrics_counter f, const char *value)
{
	const char *const v[1] = {value};
	metrics_count(f, v);
}

void metrics_gauge_set(enum metrics_gauge g, uint64_t value)
{
	if (page != NULL && g != METRICS_NO_GAUGE && (unsigned)g < METRICS_GAUGES)
		__atomic_store_n(&page->gauges[g], value, __ATOMIC_RELAXED);
}

void metrics_observe(enum metrics_histogram h, uint64_t usec)
{
	if (page == NULL || (unsigned)h >= METRICS_HISTOGRAMS)
		return;
	struct histogram *x = &page->hist[h];
	size_t b = 0;
	while (b < METRICS_BUCKETS && usec > bounds_usec[b])
		b++;
	__atomic_fetch_add(&x->bucket[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&x->sum_usec, usec, __ATOMIC_RELAXED);
	__atomic_fetch_add(&x->count, 1, __ATOMIC_RELAXED);
}

uint64_t metrics_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A label value as OpenMetrics quotes it: backslash, quote and newline escaped. */
static int put_value(struct buf *out, const char *v, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (v[i] == '\\' || v[i] == '"')
			rc = buf_printf(out, "\\%c", v[i]);
		else if (v[i] == '\n')
			rc = buf_append_str(out, "\\n");
		else
			rc = buf_append_char(out, v[i]);
	}
	return rc;
}

static int put_labels(struct buf *out, const struct family *fam, const char *labels)
{
	const char *p = labels;
	int rc = buf_append_char(out, '{');
	for (size_t i = 0; i < MAX_LABELS && fam->labels[i] != NULL && rc == 0; i++) {
		size_t n = strcspn(p, "\x1f");
		rc = buf_printf(out, "%s%s=\"", i ? "," : "", fam->labels[i]);
		if (rc == 0)
			rc = put_value(out, p, n);
		if (rc == 0)
			rc = buf_append_char(out, '"');
		p += n + (p[n] != '\0');
	}
	return rc == 0 ? buf_append_char(out, '}') : -1;
}

/* The sum of the READY slots of (f, labels) from index first on: a label set that two
 * processes claimed at once is printed once. Returns 0 when an earlier slot had it. */
static int slot_total(enum metrics_counter f, size_t first, uint64_t *total)
{
	const struct slot *s0 = &page->slots[first];
	for (size_t i = 0; i < first; i++) {
		const struct slot *s = &page->slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_READY && s->family == (uint32_t)f &&
		    strcmp(s->labels, s0->labels) == 0)
			return 0;
	}
	*total = 0;
	for (size_t i = first; i < METRICS_SLOTS; i++) {
		const struct slot *s = &page->slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_READY && s->family == (uint32_t)f &&
		    strcmp(s->labels, s0->labels) == 0)
			*total += __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	}
	return 1;
}

static int render_counter(struct buf *out, enum metrics_counter f)
{
	const struct family *fam = &counters[f];
	int rc = buf_printf(out, "# TYPE %s counter\n# HELP %s %s\n", fam->name, fam->name, fam->help);
	for (size_t i = 0; i < METRICS_SLOTS && rc == 0; i++) {
		const struct slot *s = &page->slots[i];
		uint64_t total;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_READY || s->family != (uint32_t)f ||
		    !slot_total(f, i, &total))
			continue;
		rc = buf_printf(out, "%s_total", fam->name);
		if (rc == 0)
			rc = put_labels(out, fam, s->labels);
		if (rc == 0)
			rc = buf_printf(out, " %llu\n", (unsigned long long)total);
	}
	return rc;
}

static int render_gauges(struct buf *out)
{
	int rc = buf_append_str(out, "# TYPE mss_sessions_running gauge\n"
	                             "# HELP mss_sessions_running Sessions open now, per daemon.\n");
	for (size_t g = METRICS_NO_GAUGE + 1; g < METRICS_GAUGES && rc == 0; g++)
		rc = buf_printf(out, "%s{daemon=\"%s\"} %llu\n", gauge_names[g][0], gauge_names[g][1],
		                (unsigned long long)__atomic_load_n(&page->gauges[g], __ATOMIC_RELAXED));
	return rc;
}

/* OpenMetrics wants seconds: microseconds printed as a decimal without rounding. */
static int put_seconds(struct buf *out, uint64_t usec)
{
	return buf_printf(out, "%llu.%06llu", (unsigned long long)(usec / 1000000u),
	                  (unsigned long long)(usec % 1000000u));
}

static int render_histogram(struct buf *out, enum metrics_histogram h)
{
	const char *name = hist_names[h][0], *key = hist_names[h][1], *val = hist_names[h][2];
	char lab[64] = "";
	const struct histogram *x = &page->hist[h];
	uint64_t cum = 0;
	int rc = 0;

	if (key != NULL && str_format(lab, sizeof lab, "%s=\"%s\",", key, val) < 0)
		return -1;
	for (size_t b = 0; b <= METRICS_BUCKETS && rc == 0; b++) {
		cum += __atomic_load_n(&x->bucket[b], __ATOMIC_RELAXED);
		rc = buf_printf(out, "%s_bucket{%sle=\"", name, lab);
		if (rc == 0)
			rc = b < METRICS_BUCKETS ? put_seconds(out, bounds_usec[b])
			                         : buf_append_str(out, "+Inf");
		if (rc == 0)
			rc = buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
	}
	/* the count is the +Inf bucket, so that the two always agree in one scrape */
	lab[strlen(lab) > 0 ? strlen(lab) - 1 : 0] = '\0';
	if (rc == 0)
		rc = buf_printf(out, "%s_count%s%s%s %llu\n%s_sum%s%s%s ", name, lab[0] ? "{" : "", lab,
		                lab[0] ? "}" : "", (unsigned long long)cum, name, lab[0] ? "{" : "", lab,
		                lab[0] ? "}" : "");
	if (rc == 0)
		rc = put_seconds(out, __atomic_load_n(&x->sum_usec, __ATOMIC_RELAXED));
	return rc == 0 ? buf_append_char(out, '\n') : -1;
}

int metrics_render(struct buf *out)
{
	if (page == NULL)
		return -1;
	int rc = 0;
	for (size_t f = 0; f < METRICS_COUNTER_FAMILIES && rc == 0; f++)
		rc = render_counter(out, (enum metrics_counter)f);
	if (rc == 0)
		rc = render_gauges(out);
	/* the two mss_command_seconds series (one per daemon) form one family */
	if (rc == 0)
		rc = buf_append_str(out, "# TYPE mss_command_seconds histogram\n"
		                         "# HELP mss_command_seconds Time to answer one command.\n");
	for (size_t h = METRICS_SMTP_COMMAND; h <= METRICS_IMAP_COMMAND && rc == 0; h++)
		rc = render_histogram(out, (enum metrics_histogram)h);
	if (rc == 0)
		rc = buf_append_str(
		    out, "# TYPE mss_delivery_seconds histogram\n"
		         "# HELP mss_delivery_seconds End of DATA to the reply (policy, vault, store).\n");
	if (rc == 0)
		rc = render_histogram(out, METRICS_DELIVERY);
	return rc == 0 ? buf_append_str(out, "# EOF\n") : -1;
}

/* blob_sweeper.c: when mss-smtpd's long-lived processes sweep blob files (blob_sweeper.h). */
#include "smtpd/blob_sweeper.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "smtpd/committer.h"

#define USEC 1000000ULL

bool blob_sweeper_in_queue(const struct mss_config *cfg)
{
	return !committer_runs(cfg);
}

void blob_sweeper_init(struct blob_sweeper *s, const struct mss_config *cfg, const char *event)
{
	*s = (struct blob_sweeper){.cfg = cfg, .event = event};
	if (cfg->store_blob_sweep_interval > 0)
		s->due_usec = metrics_now_usec();
}

int blob_sweeper_wait_ms(const struct blob_sweeper *s, int wait_ms)
{
	if (s->due_usec == 0)
		return wait_ms;
	uint64_t now = metrics_now_usec();
	uint64_t left = s->due_usec > now ? (s->due_usec - now + 999) / 1000 : 0;
	return wait_ms >= 0 && (uint64_t)wait_ms < left ? wait_ms : (int)left;
}

bool blob_sweeper_due(const struct blob_sweeper *s)
{
	return s->due_usec != 0 && metrics_now_usec() >= s->due_usec;
}

void blob_sweeper_run(struct blob_sweeper *s, struct store *st)
{
	if (!blob_sweeper_due(s))
		return;
	s->due_usec = metrics_now_usec() + (uint64_t)s->cfg->store_blob_sweep_interval * USEC;
	if (st == NULL)
		return;
	char err[512];
	struct store_sweep_opts o = {.min_age = s->cfg->store_blob_sweep_age,
	                             .max_files = s->cfg->store_blob_sweep_batch};
	struct store_sweep_report r;
	if (store_blob_sweep_pass(st, &s->at, &o, &r, err, sizeof err) < 0)
		log_err(s->event, "result=failed removed=%zu looked=%zu error=\"%s\"", r.removed, r.looked,
		        err);
	else if (r.removed > 0)
		log_info(s->event, "result=ok removed=%zu looked=%zu", r.removed, r.looked);
}

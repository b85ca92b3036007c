/* smtp_success.c: local deliveries' success reports (smtp_success.h). */
#include "smtpd/smtp_success.h"

#include <stdlib.h>
#include <time.h>

#include "lib/log.h"
#include "lib/str.h"
#include "smtpd/relay_bounce.h"

void smtp_success_reports(struct smtp_session *s, const struct smtp_data *d, const char *qid)
{
	struct relay_failure *f = xcalloc(s->nrcpt ? s->nrcpt : 1, sizeof *f);
	char err[512];
	size_t n = 0;
	for (size_t i = 0; i < s->nrcpt; i++) {
		if (!dsn_notify_wants(s->rcpt_dsn[i].notify, DSN_NOTIFY_SUCCESS) ||
		    !config_is_local_domain(s->cfg, str_address_domain(s->rcpts[i])))
			continue;
		f[n++] = (struct relay_failure){.rcpt = s->rcpts[i],
		                                .reply = "250 2.0.0 delivered to the mailbox",
		                                .orcpt = s->rcpt_dsn[i].orcpt};
	}
	struct relay_report r = {.qid = qid,
	                         .mail_from = s->mail_from,
	                         .account = s->sender.account,
	                         .created = (int64_t)time(NULL),
	                         .remote_mta = "",
	                         .action = RELAY_ACTION_DELIVERED,
	                         .envid = s->mail_params.dsn.envid,
	                         .rcpts = f,
	                         .n = n};
	int rc = n > 0 ? relay_report_deliver(s->store, &r, d->body.data, d->body.len, err, sizeof err) : 1;
	if (rc < 0)
		log_err("dsn.success", "session=%s qid=%s result=failed error=\"%s\"", s->id, qid, err);
	else if (n > 0)
		log_info("dsn.success", "session=%s qid=%s rcpts=%zu result=%s", s->id, qid, n,
		         rc == 0 ? "ok" : "none: the sender is neither local nor in the trust space");
	free(f);
}

/* policy_relay.c: remote recipients into the outbound queue (policy_relay.h). */
#include "policy/policy_relay.h"

#include <string.h>
#include <time.h>

#include "directory/account.h"
#include "lib/log.h"
#include "lib/str.h"
#include "queue/queue.h"

struct queue_records {
	struct store *store;
	const struct policy_message *m;
	const char *const *remote;
	size_t nremote;
	const char *patient; /* the sender when a patient: the message is in their history */
};

static int record_queued(void *arg, char *err, size_t errlen)
{
	const struct queue_records *r = arg;
	const struct policy_message *m = r->m;
	struct mss_status ok = {0};
	char detail[600];
	if (str_format(detail, sizeof detail, "from=%s qid=%s size=%zu",
	               m->mail_from[0] ? m->mail_from : "<>", m->queue_id, m->len) != 0) {
		str_error(err, errlen, "audit detail too long");
		return -1;
	}
	for (size_t i = 0; i < r->nremote; i++)
		if (policy_audit_decision(r->store, m->sender, "smtp.queue", r->remote[i], detail, &ok,
		                          r->patient) < 0) {
			str_error(err, errlen, "audit record not written");
			return -1;
		}
	return 0;
}

/* The sender's account when it is a patient's (their history shows what they sent). */
static const char *patient_sender(struct store *store, const struct policy_sender *s, char *buf, size_t len)
{
	struct account a;
	if (s->account[0] == '\0' || account_get(store, s->account, &a) != 1 || a.role != ROLE_PATIENT)
		return "";
	return str_copy(buf, len, a.address) == 0 ? buf : "";
}

int policy_relay_queue(struct store *store, const struct policy_message *m, const char *const *remote,
                       const struct dsn_rcpt *remote_dsn, size_t nremote, struct mss_status *st)
{
	char err[512], patient[MSS_ADDRESS_SIZE];
	struct queue_records r = {.store = store, .m = m, .remote = remote, .nremote = nremote};
	r.patient = patient_sender(store, m->sender, patient, sizeof patient);
	struct queue_put qp = {.qid = m->queue_id,
	                       .mail_from = m->mail_from,
	                       .account = m->sender->account,
	                       .rcpts = remote,
	                       .nrcpt = nremote,
	                       .data = m->data,
	                       .len = m->len,
	                       .now = time(NULL),
	                       .flags = m->relay_flags,
	                       .dsn = m->dsn,
	                       .rcpt_dsn = remote_dsn};
	struct queue_hook hook = {.fn = record_queued, .arg = &r};
	if (queue_put(store, &qp, &hook, err, sizeof err) == 0) {
		log_info("smtp.queue", "qid=%s nrcpt=%zu size=%zu result=queued", m->queue_id, nremote,
		         m->len);
		return 0;
	}
	log_err("smtp.queue", "qid=%s result=failed error=\"%s\"", m->queue_id, err);
	st->code = 451;
	str_assert(str_copy(st->enhanced, sizeof st->enhanced, "4.3.0"), "a short constant");
	str_assert(
	    str_copy(st->text, sizeof st->text, "temporary failure queueing the message, try again later"),
	    "a short constant");
	return -1;
}

struct withdraw_record {
	struct store *store;
	const struct policy_message *m;
};

static int record_withdrawn(void *arg, char *err, size_t errlen)
{
	const struct withdraw_record *w = arg;
	struct mss_status ok = {0};
	if (policy_audit_decision(w->store, w->m->sender, "queue.withdraw", w->m->queue_id,
	                          "reason=local delivery failed", &ok, "") < 0) {
		str_error(err, errlen, "audit record not written");
		return -1;
	}
	return 0;
}

void policy_relay_withdraw(struct store *store, const struct policy_message *m)
{
	char err[512];
	struct withdraw_record w = {.store = store, .m = m};
	struct queue_hook hook = {.fn = record_withdrawn, .arg = &w};
	if (queue_delete(store, m->queue_id, &hook, err, sizeof err) < 0)
		log_err("smtp.queue", "qid=%s result=withdraw-failed error=\"%s\"", m->queue_id, err);
}

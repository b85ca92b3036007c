/* committer_msg.h: what crosses the socket between an MX session process and the
 * committer (committer.h): one request per delivery, one answer per request.
 *
 * A frame is a 4-octet big-endian length, then that many octets: "MC" (request) or
 * "MA" (answer), the version, then the fields in a fixed order. A number is 4 octets
 * big-endian (a time 8), a text a number (its length) then its octets, with no NUL
 * among them. Request: the queue id, the sender (how it proved itself, its account,
 * password stamp, peer, certificate DN, listener, SPF domain, listed domain: not the
 * rows it read, which the committer reads again), MAIL FROM, the DSN's RET and ENVID,
 * the recipients (address, NOTIFY, ORCPT), each recipient's copy as the session decided
 * it from its own inspection (vault_copy.h: whole, subject prefix dropped, the withheld
 * leaves counted by reason, then one octet per MIME part; all empty for a recipient
 * who is not a patient), the session's kept audit records (time and eight fields),
 * then the message. Answer: policy_deliver's result and status, whether the kept
 * records were committed, whether the session files the message now (its rows
 * committed), the batch's size.
 *
 * The committer trusts no frame: committer_req_parse checks every length against what
 * is left, each text against its field's size and each part's reason against the known
 * ones, and refuses anything else; a copy that does not fit the committer's own parse
 * of the message fails that delivery (vault_copy_plan_fits). */
#ifndef MSS_SMTPD_COMMITTER_MSG_H
#define MSS_SMTPD_COMMITTER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_sender.h"
#include "lib/buf.h"
#include "lib/dsn.h"
#include "lib/status.h"
#include "vault/vault_copy.h"

#define COMMITTER_FRAME_HEAD 4
/* What a frame may hold besides the message: smtp_max_recipients addresses and the
 * kept records of a transaction, with room to spare. */
#define COMMITTER_ENVELOPE_MAX (4u << 20)

/* One kept audit record (audit.h audit_deferred_get). */
struct committer_kept {
	int64_t when;
	char *f[8]; /* actor auth action target detail result peer patient */
};

/* A parsed request; its texts are its own (committer_req_free), data points into the
 * frame it was parsed from. */
struct committer_req {
	char queue_id[16];
	struct policy_sender sender;
	char *mail_from;
	struct dsn_mail dsn;
	char **rcpts;
	struct dsn_rcpt *rcpt_dsn;
	size_t nrcpt;
	struct vault_copy_plan *copies; /* nrcpt of them: policy_message.copies */
	struct committer_kept *kept;
	size_t nkept;
	const char *data;
	size_t len;
};

/* Appends the request frame of one delivery to out; the kept records are read from
 * this process's (audit_deferred_get). copies: nrcpt of them (policy_inspection_copies). */
void committer_req_write(struct buf *out, const char *queue_id, const struct policy_sender *s,
                         const char *mail_from, const struct dsn_mail *dsn, const char *const *rcpts,
                         const struct dsn_rcpt *rcpt_dsn, const struct vault_copy_plan *copies, size_t nrcpt,
                         const char *data, size_t len);
/* Parses a request frame's body (after its length). Returns 0, or -1 with err (nothing
 * to free). */
int committer_req_parse(const uint8_t *p, size_t n, struct committer_req *r, char *err, size_t errlen);
void committer_req_free(struct committer_req *r);

/* The answer: rc as policy_deliver returned it, its status, whether the session's kept
 * audit records were committed (then the session forgets them; else it keeps them for
 * its next flush, as after a rolled-back delivery), whether the session files the
 * message in the vault now (policy_deliver_finish's true), and how many deliveries
 * the transaction held (the session's log line says it). */
struct committer_ans {
	int rc;
	struct mss_status st;
	bool kept_written;
	bool to_file;
	unsigned batch;
};
void committer_ans_write(struct buf *out, const struct committer_ans *a);
int committer_ans_parse(const uint8_t *p, size_t n, struct committer_ans *a);

/* The session's withdrawal, sent when it gave up waiting for its answer: a frame of
 * its own after the request ("MW", the version, nothing more). A committer that has not
 * begun the batch holding the request answers it "not stored" (451) and never stores it;
 * one that has answers it as it would have, and one that answered before reading it
 * ignores it. Either way one request gets one answer. */
#define COMMITTER_WITHDRAW_LEN (COMMITTER_FRAME_HEAD + 4)
void committer_withdraw_write(struct buf *out);
/* Whether p (COMMITTER_WITHDRAW_LEN octets, the head included) is a withdrawal. */
bool committer_is_withdraw(const uint8_t *p);

/* A frame's body length from its 4-octet head. */
uint32_t committer_frame_len(const uint8_t head[COMMITTER_FRAME_HEAD]);

#endif

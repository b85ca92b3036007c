/* imap_profile.c: a patient's APPEND, COPY or MOVE to Profil is a medical profile
 * section sent from a mail client (vault/vault_profile.h): the message's Subject names the section, its
 * text lists the items. The message appended is read back, filed as the section's
 * next version through vault_profile_from_message (the function mss-webd's page uses
 * too: same checks, same audit record), and removed: Profil holds only the versions
 * the vault wrote. A refused one answers NO with the reason in French (RFC 9051 allows
 * UTF-8 in resp-text) and leaves Profil as it was. One message per APPEND: a refusal
 * of the second of a MULTIAPPEND could not undo the first. */
#include <stdlib.h>
#include <string.h>

#include "directory/account.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_profile.h"

bool imap_profile_target(const struct imap_session *s, const char *mailbox)
{
	return s->account.role == ROLE_PATIENT && strcmp(mailbox, VAULT_PROFILE_MAILBOX) == 0;
}

/* Removes uids of mailbox mbid (\Deleted, then expunged): what an APPEND or COPY stored
 * in Profil, or a MOVE's source once its section is filed (tell: the session's client
 * is sent the EXPUNGE, RFC 6851). */
static void remove_uids(struct imap_session *s, int64_t mbid, const uint32_t *uids, size_t n, bool tell)
{
	struct store_flags_req req = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED};
	struct store_flags_result res;
	uint32_t *gone = NULL;
	size_t ngone = 0;
	char err[256];

	memset(&res, 0, sizeof(res));
	if (store_set_flags(s->store, mbid, uids, n, &req, &res, err, sizeof(err)) != 0 ||
	    store_expunge(s->store, mbid, uids, n, &gone, &ngone, err, sizeof(err)) != 0)
		log_err("imap.profile", "user=%s error=\"%s\"", s->account.address, err);
	store_flags_result_free(&res);
	if (tell) {
		imap_view_expunge_uids(s, gone, ngone);
		s->n_expunge += (unsigned)ngone;
	}
	free(gone);
}

/* Files message uid as a section. Returns 0 with *sec, *version, *uid_new; 1 refused
 * (why), -1 error. */
static int file_one(struct imap_session *s, int64_t mbid, uint32_t uid,
                    const struct vault_profile_section **sec, unsigned *version, uint32_t *uid_new, char *why,
                    size_t whylen)
{
	struct vault_actor who = {s->account.address, s->auth_method ? s->auth_method : "none",
	                          conn_peer_ip(s->conn)};
	struct store_body *b = NULL;
	struct buf raw;
	int rc = store_body_open(s->store, mbid, uid, &b, why, whylen);

	if (rc != 1)
		return -1;
	buf_init(&raw, s->cfg->max_message_size + 1);
	rc = store_body_read_all(b, &raw, why, whylen);
	store_body_close(b);
	if (rc == 0)
		rc = vault_profile_from_message(s->store, &who, s->account.address, raw.data, raw.len, sec,
		                                version, uid_new, why, whylen);
	buf_free(&raw);
	return rc;
}

/* Files the one message an APPEND or COPY stored in Profil (mbid: uids, n), removes
 * what was stored, and answers a refusal or an error itself. Returns 0 filed (the
 * caller answers OK), 1 answered. */
static int file_stored(struct imap_session *s, const char *tag, int64_t mbid, const uint32_t *uids, size_t n,
                       const struct vault_profile_section **sec, unsigned *version, uint32_t *uid_new)
{
	char why[400];
	int rc;

	if (n != 1)
		rc = str_copy(why, sizeof(why),
		              "Un seul message à la fois dans Profil : rien n'a été modifié.") == 0
		         ? 1
		         : -1;
	else
		rc = file_one(s, mbid, uids[0], sec, version, uid_new, why, sizeof(why));
	remove_uids(s, mbid, uids, n, false);
	if (rc < 0) {
		log_err("imap.profile", "user=%s error=\"%s\"", s->account.address, why);
		imap_send(s, tag, IMAP_R_SERVERBUG);
	} else if (rc == 1) {
		log_info("imap.profile", "user=%s result=refused", s->account.address);
		imap_send_text(s, tag, IMAP_R_CANNOT, why);
	}
	return rc == 0 ? 0 : 1;
}

void imap_profile_appended(struct imap_session *s, const char *tag, uint32_t uidvalidity,
                           const uint32_t *uids, size_t n)
{
	const struct vault_profile_section *sec = NULL;
	struct store_mailbox mb;
	char why[400];
	unsigned version = 0;
	struct imap_num vn;
	uint32_t uid_new = 0;
	int rc =
	    store_mailbox_get(s->store, s->account.address, VAULT_PROFILE_MAILBOX, &mb, why, sizeof(why));

	if (rc != 1) {
		imap_send(s, tag, IMAP_R_SERVERBUG);
		return;
	}
	if (file_stored(s, tag, mb.id, uids, n, &sec, &version, &uid_new) == 0) {
		s->n_append++;
		imap_send_code(s, tag, IMAP_R_APPENDUID_PROFILE, sec->code, imap_num(version, &vn), "%u %u",
		               uidvalidity, uid_new);
	}
}

void imap_profile_copied(struct imap_session *s, const char *tag, const char *name, bool move,
                         const struct store_copy_result *res)
{
	const struct vault_profile_section *sec = NULL;
	struct store_mailbox mb;
	char why[400];
	unsigned version = 0;
	struct imap_num vn;
	uint32_t uid_new = 0;
	int rc;

	if (res->n == 0) {
		imap_send_text(s, tag, IMAP_R_DONE, name);
		return;
	}
	rc = store_mailbox_get(s->store, s->account.address, VAULT_PROFILE_MAILBOX, &mb, why, sizeof(why));
	if (rc != 1) {
		imap_send(s, tag, IMAP_R_SERVERBUG);
		return;
	}
	if (file_stored(s, tag, mb.id, res->dst_uids, res->n, &sec, &version, &uid_new) != 0)
		return;
	if (move) {
		conn_printf(s->conn, "* OK [COPYUID %u %u %u] Moved: %s, version %u\r\n",
		            res->dst_uidvalidity, res->src_uids[0], uid_new, sec->code, version);
		remove_uids(s, s->view.id, res->src_uids, 1, true);
		imap_send_text(s, tag, IMAP_R_DONE, name);
	} else {
		imap_send_code(s, tag, IMAP_R_COPYUID_PROFILE, sec->code, imap_num(version, &vn), "%u %u %u",
		               res->dst_uidvalidity, res->src_uids[0], uid_new);
	}
}

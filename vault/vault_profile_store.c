/* vault_profile_store.c: the profile's versions in the folder Profil: filing one,
 * finding the current one and reading its items back, and a section sent from a mail
 * client (vault_profile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "vault/vault.h"
#include "vault/vault_folder.h"
#include "vault/vault_profile.h"
#include "store/store_sql.h"

#define VERSION_READ (1024 * 1024) /* a version's message is far smaller */
#define MAIL_TEXT_MAX (64 * 1024)  /* the text part of a section sent by mail */

/* The X-MSS-Profile of message uid: its section code and version. Returns 1, 0 none
 * readable, -1. */
static int read_mark(struct store *st, int64_t mbid, uint32_t uid, char code[32], unsigned *version)
{
	char mark[128];
	int rc = vault_folder_header(st, mbid, uid, "X-MSS-Profile", mark, sizeof(mark));

	if (rc != 1)
		return rc;
	return sscanf(mark, "%31s %u", code, version) == 2 ? 1 : 0;
}

/* The items of a version: the lines "- item" of its first text part. */
static int read_items(struct store *st, const struct mss_config *cfg, int64_t mbid, uint32_t uid,
                      struct vault_profile_items *out)
{
	struct buf raw, t;
	struct msg m;
	struct msg_limits lim;
	char err[256];
	int rc;

	buf_init(&raw, VERSION_READ * 2);
	buf_init(&t, VERSION_READ);
	rc = vault_folder_read(st, mbid, uid, VERSION_READ, &raw) == 1 ? 0 : -1;
	msg_limits_from_config(cfg, &lim);
	if (rc == 0 && msg_parse(raw.data, raw.len - 1, &lim, &m, err, sizeof(err)) == 0) {
		rc = -1;
		for (size_t i = 0; i < m.nparts && rc < 0; i++)
			if (m.parts[i].kind == MSG_PART_LEAF && strcmp(m.parts[i].type, "text/plain") == 0)
				rc = msg_part_decode(&m, i, &t) == 0 && buf_append_char(&t, '\0') == 0 ? 0
				                                                                       : -1;
		msg_free(&m);
	} else {
		rc = -1;
	}
	for (char *p = t.data; rc == 0 && p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t n = strcspn(p, "\r\n");
		if (n > 2 && p[0] == '-' && p[1] == ' ' && out->n < VAULT_PROFILE_ITEMS_MAX &&
		    n - 2 < VAULT_PROFILE_ITEM_MAX) {
			memcpy(out->item[out->n], p + 2, n - 2);
			out->item[out->n++][n - 2] = '\0';
		}
	}
	buf_free(&raw);
	buf_free(&t);
	return rc;
}

/* Finds the highest version of sec in Profil (mbid, its messages l). */
static int find_current(struct store *st, int64_t mbid, const struct store_msglist *l,
                        const struct vault_profile_section *sec, struct vault_profile_current *out)
{
	for (size_t i = 0; i < l->n; i++) {
		char code[32];
		unsigned version;
		int rc = read_mark(st, mbid, l->v[i].uid, code, &version);
		if (rc < 0)
			return -1;
		if (rc == 1 && strcmp(code, sec->code) == 0 && version > out->version) {
			out->version = version;
			out->uid = l->v[i].uid;
			out->when = l->v[i].internaldate;
			out->masked = vault_folder_masked(l->v[i].keywords);
		}
	}
	return 0;
}

int vault_profile_get(struct store *st, const char *patient, const struct vault_profile_section *sec,
                      struct vault_profile_current *out)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	char err[256];
	int rc = store_select(st, patient, VAULT_PROFILE_MAILBOX, &mb, &l, err, sizeof(err));

	memset(out, 0, sizeof(*out));
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	rc = find_current(st, mb.id, &l, sec, out);
	store_msglist_free(&l);
	if (rc == 0 && out->version > 0)
		rc = read_items(st, store_config(st), mb.id, out->uid, &out->items);
	return rc;
}

/* The earlier version stays, marked $Superseded, as a replaced document is. */
static void supersede(struct store *st, const char *patient, uint32_t uid)
{
	struct store_mailbox mb;
	struct store_flags_result res;
	struct store_flags_req req = {.op = STORE_FLAGS_ADD, .keywords = VAULT_SUPERSEDED_KEYWORD};
	char err[256];

	memset(&res, 0, sizeof(res));
	if (store_mailbox_get(st, patient, VAULT_PROFILE_MAILBOX, &mb, err, sizeof(err)) != 1 ||
	    store_set_flags(st, mb.id, &uid, 1, &req, &res, err, sizeof(err)) != 0)
		log_err("vault.profile", "patient=%s error=\"%s\"", patient, err);
	store_flags_result_free(&res);
}

/* Writes why into err (a constant message: cut or not, it is a message). Returns -1. */
static int fail(char *err, size_t errlen, const char *why)
{
	if (str_copy(err, errlen, why) < 0)
		log_warn("vault.profile", "error=\"message cut\"");
	return -1;
}

/* Files the next version inside the caller's write transaction (the lock taken):
 * 0, 1 refused (base is not the current version), -1. */
static int set_locked(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_profile_section *sec, const struct vault_profile_items *items,
                      long base, unsigned *version, uint32_t *uid_out, char *err, size_t errlen)
{
	static struct vault_profile_current cur; /* 9 KiB of items: off the stack */
	int64_t when = (int64_t)time(NULL);
	char target[64], detail[96];
	uint32_t uid = 0;
	struct buf b;
	int rc;

	if (vault_profile_get(st, patient, sec, &cur) < 0)
		return fail(err, errlen, "cannot read the profile");
	if (base >= 0 && (unsigned long)base != cur.version) {
		if (str_format(err, errlen,
		               "La rubrique « %s » a été modifiée entre-temps (version %u, vous modifiiez la "
		               "version %ld) : relisez-la puis recommencez. Rien n'a été modifié.",
		               sec->label, cur.version, base) < 0)
			log_warn("vault.profile", "error=\"message cut\"");
		return 1;
	}
	buf_init(&b, 512 * 1024);
	rc = vault_profile_build(&b, patient, store_config(st)->timezone, sec, items, cur.version + 1, when);
	if (rc == 0)
		rc = vault_folder_append(st, patient, VAULT_PROFILE_MAILBOX, b.data, b.len, cur.masked, when,
		                         &uid, err, errlen);
	else
		rc = fail(err, errlen, "cannot build the profile message");
	buf_free(&b);
	if (rc < 0)
		return -1;
	if (cur.version > 0)
		supersede(st, patient, cur.uid);
	*version = cur.version + 1;
	if (uid_out != NULL)
		*uid_out = uid;
	if (str_format(target, sizeof(target), "%s %u", VAULT_PROFILE_MAILBOX, uid) < 0 ||
	    str_format(detail, sizeof(detail), "section=%s version=%u items=%zu", sec->code, *version,
	               items->n) < 0 ||
	    vault_audit(st, who, "profile.update", patient, target, detail, "ok") < 0)
		return fail(err, errlen, "audit record not written");
	return 0;
}

int vault_profile_set(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_profile_section *sec, const struct vault_profile_items *items,
                      long base, unsigned *version, uint32_t *uid_out, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	int rc;

	/* One writer at a time reads the current version and files the next: two edits at
	 * once become two versions (or the later one is refused when it names the version
	 * it was based on), never one lost. */
	if (sql_begin_write(db, err, errlen) != 0 || sql_lock(db, "vault.profile", err, errlen) != 0) {
		sql_rollback(db);
		return -1;
	}
	rc = set_locked(st, who, patient, sec, items, base, version, uid_out, err, errlen);
	if (rc == 0 && sql_commit(db, err, errlen) != 0)
		rc = -1;
	else if (rc != 0)
		sql_rollback(db);
	store_notify_flush(st);
	return rc;
}

/* The section a mail's Subject names: "Allergies", "allergies", "Profil médical :
 * Allergies", "Profil médical : Allergies (version 2)" (a reply to a version: *base
 * gets 2, else -1). */
static const struct vault_profile_section *subject_section(const char *subject, long *base)
{
	char s[1024];
	const char *p = subject;
	char *paren;
	uint64_t v;

	if (str_iprefix(p, "Re:") || str_iprefix(p, "Fwd:") || str_iprefix(p, "TR:"))
		p = strchr(p, ':') + 1;
	if (str_iprefix(p + strspn(p, " "), "Profil médical"))
		p = strchr(p, ':') != NULL ? strchr(p, ':') + 1 : p;
	if (str_copy(s, sizeof(s), p) < 0)
		return NULL;
	*base = -1;
	paren = strstr(s, " (version ");
	if (paren != NULL) {
		char *num = paren + 10, *end = strchr(num, ')');
		if (end != NULL && end[1] == '\0') {
			*end = '\0';
			if (str_to_u64(num, 1000000, &v) == 0)
				*base = (long)v;
		}
		*paren = '\0';
	}
	return vault_profile_section(s);
}

/* The decoded text of the message's first text/plain part into t (NUL-terminated).
 * Returns 0, 1 when there is none (or too long), -1. */
static int mail_text(const struct msg *m, struct buf *t)
{
	for (size_t i = 0; i < m->nparts; i++) {
		if (m->parts[i].kind != MSG_PART_LEAF || strcmp(m->parts[i].type, "text/plain") != 0 ||
		    m->parts[i].attachment)
			continue;
		if (msg_part_decode(m, i, t) < 0 || buf_append_char(t, '\0') < 0)
			return 1;
		return 0;
	}
	return 1;
}

static int refuse(char *err, size_t errlen, const char *why)
{
	if (str_copy(err, errlen, why) < 0)
		log_warn("vault.profile", "error=\"message cut\"");
	return 1;
}

int vault_profile_from_message(struct store *st, const struct vault_actor *who, const char *patient,
                               const char *data, size_t len, const struct vault_profile_section **sec,
                               unsigned *version, uint32_t *uid, char *err, size_t errlen)
{
	static struct vault_profile_items items;
	struct msg_limits lim;
	struct msg m;
	struct buf t;
	char why[300];
	long base = -1;
	int rc;

	msg_limits_from_config(store_config(st), &lim);
	if (msg_parse(data, len, &lim, &m, why, sizeof(why)) != 0)
		return refuse(err, errlen, "Message illisible : rien n'a été modifié.");
	*sec = subject_section(m.h.subject, &base);
	buf_init(&t, MAIL_TEXT_MAX);
	rc = *sec == NULL ? refuse(err, errlen,
	                           "L'objet du message doit nommer la rubrique du profil : Allergies, "
	                           "Antécédents médicaux, Antécédents familiaux, Traitements en cours ou "
	                           "Contacts d'urgence. Rien n'a été modifié.")
	     : mail_text(&m, &t) != 0
	         ? refuse(err, errlen,
	                  "Le message doit contenir un texte : une ligne par élément. Rien "
	                  "n'a été modifié.")
	         : 0;
	msg_free(&m);
	if (rc == 0 && vault_profile_parse(*sec, t.data, &items, why, sizeof(why)) < 0) {
		if (str_format(err, errlen, "%s Rien n'a été modifié.", why) < 0)
			log_warn("vault.profile", "error=\"message cut\"");
		rc = 1;
	}
	buf_free(&t);
	if (rc != 0)
		return rc;
	return vault_profile_set(st, who, patient, *sec, &items, base, version, uid, err, errlen);
}

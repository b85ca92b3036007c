/* imap_urlauth.c: URLAUTH (RFC 4467): GENURLAUTH, URLFETCH, RESETKEY.
 *
 * A URLAUTH URL names a message (or a section of it) of the user's own mailboxes and
 * who may fetch it ("user+NAME", "authuser"); GENURLAUTH signs the URL with the
 * mailbox's access key (INTERNAL mechanism: HMAC-SHA-256, hex), URLFETCH checks the
 * signature in constant time and answers the octets, or NIL for any URL it will not
 * resolve (RFC 4467 6: no reason is given). Keys come from the store
 * (store_urlauth_key) and RESETKEY changes them. "anonymous" and "submit+" access are
 * not offered (no anonymous sessions, no submission server here), nor is a patient's
 * vault reachable by URL, by its shared name or by the patient's own (url_vault): a
 * professional reads it through a grant, where a mask, a revocation and a block hold
 * at once and every read is audited and told to the patient; a URL would go on
 * serving the document past all of them, unrecorded. Another account's session never holds the owner's
 * keys (issue 12): GENURLAUTH therefore also leaves the message key wrapped under a
 * key only the authorized URL gives (store_urlauth_grant), and URLFETCH of another
 * account's URL opens the message with it (store_urlauth_open): the URL is the
 * capability, as RFC 4467 means. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/account.h"
#include "imap/imap_bindecode.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_section.h"
#include "imap/imap_urlfetch.h"
#include "imap/imap_url.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault.h"

#define MAC_HEX (crypto_auth_hmacsha256_BYTES * 2 + 1)

/* The owner an absolute URL names: its user part decoded ("joe%40example.com"), or
 * "user@host" when the user part holds no '@' (how imaptest and most clients write a
 * login that is an address). Returns 0 or -1. */
static int url_owner(const struct imap_url *u, char *out, size_t outlen)
{
	const char *at = strrchr(u->server, '@');
	if (at == NULL)
		return -1;
	size_t ulen = strcspn(u->server, ";@");
	char user[256];
	size_t k = 0;
	for (size_t i = 0; i < ulen && k + 1 < sizeof(user); i++) {
		if (u->server[i] == '%' && i + 2 < ulen && strncmp(u->server + i, "%40", 3) == 0) {
			user[k++] = '@';
			i += 2;
		} else {
			user[k++] = u->server[i];
		}
	}
	user[k] = '\0';
	if (strchr(user, '@') != NULL)
		return str_copy(out, outlen, user);
	const char *host = at + 1;
	size_t hlen = strcspn(host, ":");
	return str_format(out, outlen, "%s@%.*s", user, (int)hlen, host);
}

/* Whether name (decoded) is one of a patient's vault folders, owner that patient
 * (vault_is_shared_mailbox: Documents..., Profil, Constantes, Vaccinations). */
static bool url_vault(struct imap_session *s, const char *owner, const char *name)
{
	if (!vault_is_shared_mailbox(name))
		return false;
	if (str_ieq(owner, s->account.address))
		return s->account.role == ROLE_PATIENT;
	struct account a;
	int rc = account_get(s->store, owner, &a);
	return rc < 0 || (rc == 1 && a.role == ROLE_PATIENT); /* a failed lookup refuses */
}

/* url_vault for the mailbox URL u names. */
static bool url_names_vault(struct imap_session *s, const struct imap_url *u, const char *owner)
{
	char name[STORE_MAILBOX_MAX];
	struct imap_arg box = {.type = IMAP_ARG_QUOTED, .str = u->mailbox, .len = strlen(u->mailbox)};
	return imap_mailbox_arg(s, &box, name, sizeof(name)) == 0 && url_vault(s, owner, name);
}

/* The URL's signature with the mailbox key, in hex. Returns 1, 0 (no such mailbox),
 * -1 (logged). */
static int url_mac(struct imap_session *s, const char *url, const struct imap_url *u, const char *owner,
                   struct store_mailbox *mb, char hex[MAC_HEX])
{
	char name[STORE_MAILBOX_MAX], err[256];
	struct imap_arg box = {.type = IMAP_ARG_QUOTED, .str = u->mailbox, .len = strlen(u->mailbox)};
	if (imap_mailbox_arg(s, &box, name, sizeof(name)) != 0 || imap_vault_name(name))
		return 0;
	unsigned char key[STORE_URLAUTH_KEY_LEN], mac[crypto_auth_hmacsha256_BYTES];
	int rc = store_urlauth_key(s->store, owner, name, mb, key, err, sizeof(err));
	if (rc < 0)
		log_err("imap.store", "user=%s op=urlauth error=\"%s\"", s->account.address, err);
	if (rc != 1)
		return rc;
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, sizeof(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)url, u->rump_len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(key, sizeof(key));
	sodium_bin2hex(hex, MAC_HEX, mac, sizeof(mac));
	return 1;
}

static bool access_offered(const char *access)
{
	return strncmp(access, "user+", 5) == 0 || str_ieq(access, "authuser");
}

/* After signing: the message key wrapped for the URL, so that another account's
 * session opens the message with the URL alone. Returns IMAP_R_COUNT (done, or nothing
 * to wrap: a message stored before migration 8 is fetched by the owner's sessions
 * only), IMAP_R_LIMIT_URLAUTH or IMAP_R_SERVERBUG (logged). */
static enum imap_reply_id leave_key(struct imap_session *s, const char *url, const struct imap_url *u,
                                    const struct store_mailbox *mb, const char *hex)
{
	char err[256];
	const struct store_urlauth_url k = {mb->id, u->uid, u->access, url, u->rump_len, hex};
	int rc = store_urlauth_grant(s->store, &k, s->cfg->imap_urlauth_max_keys, err, sizeof(err));
	if (rc == STORE_URLAUTH_FULL) {
		log_info("imap.urlauth", "user=%s result=refused reason=\"imap_urlauth_max_keys reached\"",
		         s->account.address);
		return IMAP_R_LIMIT_URLAUTH;
	}
	if (rc < 0) {
		log_err("imap.store", "user=%s op=genurlauth error=\"%s\"", s->account.address, err);
		return IMAP_R_SERVERBUG;
	}
	return IMAP_R_COUNT;
}

/* GENURLAUTH url mechanism [url mechanism ...] */
void cmd_genurlauth(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs < 2 || c->nargs % 2 != 0) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_GENURLAUTH, c->name);
		return;
	}
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	for (size_t i = 0; i < c->nargs; i += 2) {
		const char *url = imap_arg_astring(&c->args[i]), *mech = imap_arg_astring(&c->args[i + 1]);
		struct imap_url u;
		char owner[256], hex[MAC_HEX];
		struct store_mailbox mb;
		if (url == NULL || mech == NULL || imap_url_parse(url, strlen(url), &u) < 0 ||
		    u.access[0] == '\0' || u.mechanism[0] != '\0' ||
		    url_owner(&u, owner, sizeof(owner)) < 0) {
			imap_send(s, c->tag, IMAP_R_INVALID_URLAUTH);
			buf_free(&out);
			return;
		}
		enum imap_reply_id refusal = IMAP_R_COUNT; /* none */
		if (!str_ieq(mech, "INTERNAL"))
			refusal = IMAP_R_URLAUTH_MECH;
		else if (!str_ieq(owner, s->account.address))
			refusal = IMAP_R_NOPERM_URL_OWNER;
		else if (!access_offered(u.access))
			refusal = IMAP_R_NOPERM_URL_ACCESS;
		else if (url_names_vault(s, &u, owner))
			refusal = IMAP_R_NOPERM_URL_VAULT;
		int rc = refusal == IMAP_R_COUNT ? url_mac(s, url, &u, owner, &mb, hex) : 0;
		if (refusal == IMAP_R_COUNT && rc <= 0)
			refusal = rc < 0 ? IMAP_R_SERVERBUG : IMAP_R_NONEXISTENT;
		if (refusal == IMAP_R_COUNT)
			refusal = leave_key(s, url, &u, &mb, hex);
		if (refusal == IMAP_R_LIMIT_URLAUTH) {
			struct imap_num n;
			imap_send_text(s, c->tag, refusal, imap_num(s->cfg->imap_urlauth_max_keys, &n));
			buf_free(&out);
			return;
		}
		if (refusal != IMAP_R_COUNT) {
			imap_send(s, c->tag, refusal);
			buf_free(&out);
			return;
		}
		str_assert(buf_printf(&out, " \"%.*s:internal:%s\"", (int)u.rump_len, url, hex),
		           "out is BUF_UNLIMITED");
	}
	conn_printf(s->conn, "* GENURLAUTH%s\r\n", out.data);
	buf_free(&out);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* RFC 4467 3: ";EXPIRE=" is an RFC 3339 date-time; a URL past it resolves to NIL. */
static bool expired(const char *when)
{
	if (when[0] == '\0')
		return false;
	struct tm tm = {0};
	const char *rest = strptime(when, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return true;
	while (*rest == '.' || (*rest >= '0' && *rest <= '9'))
		rest++; /* fractions of a second */
	long off = 0;
	int hh, mm;
	if ((*rest == '+' || *rest == '-') && sscanf(rest + 1, "%2d:%2d", &hh, &mm) == 2)
		off = (*rest == '+' ? 1 : -1) * (hh * 3600L + mm * 60L);
	else if (*rest != 'Z' && *rest != 'z')
		return true;
	return timegm(&tm) - off < time(NULL);
}

/* What a URL names, once checked: the message opened, the section and where its
 * octets lie, the URL's ;PARTIAL= window (applied to what is sent). */
struct url_target {
	struct store_body *body;
	struct imap_section sec; /* depth 0, kind ALL: the URL names no section */
	uint64_t off, len;
	bool partial;
	uint64_t poff, plen; /* plen 0: to the end */
	char owner[256];
};

static void target_free(struct url_target *t)
{
	store_body_close(t->body);
	imap_section_free(&t->sec);
}

/* The octets of the section a URL names; 0 when it names none (then NIL). */
static int section_of(struct url_target *t, const struct imap_url *u)
{
	t->off = 0;
	t->len = store_body_size(t->body);
	if (u->section[0] == '\0')
		return 1;
	if (imap_section_parse(u->section, strlen(u->section), false, &t->sec) < 0 ||
	    t->sec.kind == IMAP_SECTION_HEADER_FIELDS || t->sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
		return 0;
	if (imap_section_range(store_body_parts(t->body), t->len, &t->sec, &t->off, &t->len) == 0)
		t->off = t->len = 0;
	return 1;
}

/* The owner's session: the token checked against the mailbox key (constant time),
 * the message opened with the owner's key. Returns 1, 0 (NIL), -1 (logged). */
static int own_open(struct imap_session *s, const char *url, const struct imap_url *u, struct url_target *t)
{
	struct store_mailbox mb;
	char hex[MAC_HEX], err[256];
	int rc = url_mac(s, url, u, t->owner, &mb, hex);
	if (rc <= 0)
		return rc;
	if (strlen(u->token) != strlen(hex) || sodium_memcmp(u->token, hex, strlen(hex)) != 0)
		return 0;
	if (u->uidvalidity != 0 && u->uidvalidity != mb.uidvalidity)
		return 0;
	rc = store_body_open(s->store, mb.id, u->uid, &t->body, err, sizeof(err));
	if (rc < 0)
		log_err("imap.store", "user=%s op=urlfetch error=\"%s\"", s->account.address, err);
	return rc;
}

/* Another account's URL: the message opened with the key the URL unwraps, never the
 * owner's (a URL changed in any octet finds no key). Returns 1, 0 (NIL, logged
 * without the token), -1 (logged). */
static int other_open(struct imap_session *s, const char *url, const struct imap_url *u, struct url_target *t)
{
	char name[STORE_MAILBOX_MAX], err[256];
	struct store_mailbox mb;
	struct imap_arg box = {.type = IMAP_ARG_QUOTED, .str = u->mailbox, .len = strlen(u->mailbox)};
	if (imap_mailbox_arg(s, &box, name, sizeof(name)) != 0 || imap_vault_name(name) ||
	    url_vault(s, t->owner, name))
		return 0; /* a URL signed before GENURLAUTH refused the vault: NIL */
	int rc = store_mailbox_get(s->store, t->owner, name, &mb, err, sizeof(err));
	if (rc == 1 && u->uidvalidity != 0 && u->uidvalidity != mb.uidvalidity)
		rc = 0;
	if (rc == 1) {
		const struct store_urlauth_url k = {mb.id, u->uid, u->access, url, u->rump_len, u->token};
		rc = store_urlauth_open(s->store, &k, &t->body, err, sizeof(err));
	}
	if (rc < 0)
		log_err("imap.store", "user=%s op=urlfetch error=\"%s\"", s->account.address, err);
	if (rc == 0)
		log_info(
		    "imap.urlfetch",
		    "user=%s owner=%s result=nil reason=\"no key for this URL: not signed as given, reset,"
		    " expunged, or stored before migration 8\"",
		    s->account.address, t->owner);
	return rc;
}

/* Whether url may be fetched by this session; t->body opened and the section found
 * when so. Returns 1, 0 (NIL), -1 (internal error, logged). t is freed by the caller
 * (target_free) in every case. */
static int fetchable(struct imap_session *s, const char *url, struct url_target *t)
{
	struct imap_url u;
	if (imap_url_parse(url, strlen(url), &u) < 0 || !str_ieq(u.mechanism, "internal") ||
	    url_owner(&u, t->owner, sizeof(t->owner)) < 0 || expired(u.expire))
		return 0;
	if (!(str_ieq(u.access, "authuser") ||
	      (strncmp(u.access, "user+", 5) == 0 && str_ieq(u.access + 5, s->account.address))))
		return 0;
	int rc = str_ieq(t->owner, s->account.address) ? own_open(s, url, &u, t) : other_open(s, url, &u, t);
	if (rc != 1 || section_of(t, &u) == 0)
		return rc < 0 ? -1 : 0;
	t->partial = u.partial;
	t->poff = u.partial_off;
	t->plen = u.partial_len;
	return 1;
}

/* The ;PARTIAL= window of n octets: [*from, *from + *count). */
static void window(const struct url_target *t, uint64_t n, uint64_t *from, uint64_t *count)
{
	*from = 0;
	*count = n;
	if (!t->partial)
		return;
	*from = t->poff < n ? t->poff : n;
	*count = n - *from;
	if (t->plen != 0 && t->plen < *count)
		*count = t->plen;
}

static int to_conn(void *arg, const char *p, size_t n)
{
	conn_write(arg, p, n);
	return 0;
}

static int to_bindecode(void *arg, const char *p, size_t n)
{
	imap_bindecode_feed(arg, p, n);
	return 0;
}

/* "{n}" and the section's octets as stored. Returns 0, -1 (read failed, logged). */
static int write_body(struct imap_session *s, const struct url_target *t)
{
	uint64_t from, n;
	char err[256];
	window(t, t->len, &from, &n);
	conn_printf(s->conn, "{%llu}\r\n", (unsigned long long)n);
	if (n > 0 && store_body_read(t->body, t->off + from, n, to_conn, s->conn, err, sizeof(err)) < 0) {
		log_err("imap.store", "user=%s op=urlfetch error=\"%s\"", s->account.address, err);
		return -1;
	}
	return 0;
}

/* One pass over the message for the RFC 5524 items: the section decoded into bin
 * (BINARY), its structure into bps (BODYPARTSTRUCTURE; with the decoded sizes when
 * binary). Returns 1, 0 (NIL: not a part, or a leaf whose encoding cannot be undone),
 * -1 (read failed, logged). */
static int convert(struct imap_session *s, const struct url_target *t, bool binary, struct buf *bps,
                   struct buf *bin)
{
	if (t->sec.kind != IMAP_SECTION_ALL)
		return 0; /* HEADER, TEXT, MIME: octets, not a part */
	char err[256];
	struct imap_bindecode *b = imap_bindecode_new(t->off, t->off + t->len, bin);
	int rc = store_body_read(t->body, 0, store_body_size(t->body), to_bindecode, b, err, sizeof(err));
	struct imap_part *root = imap_bindecode_finish(b, binary);
	if (rc < 0) {
		log_err("imap.store", "user=%s op=urlfetch error=\"%s\"", s->account.address, err);
		imap_parts_free(root);
		return -1;
	}
	const struct imap_part *p = t->sec.depth == 0 ? root : imap_section_part(root, &t->sec);
	rc = p != NULL && !(binary && (p->flags & IMAP_PART_UNKNOWN_CTE));
	if (rc == 1)
		imap_bodystructure_write(bps, p, true);
	imap_parts_free(root);
	return rc;
}

/* The RFC 5524 answer for one URL: " (BODYPARTSTRUCTURE (...) BINARY ~{n}...)", or
 * " NIL". Returns 0, -1 (read failed, logged). */
static int write_extended(struct imap_session *s, const struct url_target *t, unsigned want)
{
	struct buf bps, bin;
	buf_init(&bps, BUF_UNLIMITED);
	buf_init(&bin, BUF_UNLIMITED);
	int rc = 1;
	if (want & (IMAP_URLFETCH_BINARY | IMAP_URLFETCH_BODYPARTSTRUCTURE))
		rc = convert(s, t, (want & IMAP_URLFETCH_BINARY) != 0, &bps, &bin);
	if (rc == 0)
		conn_puts(s->conn, " NIL");
	if (rc == 1) {
		conn_puts(s->conn, " (");
		if (want & IMAP_URLFETCH_BODYPARTSTRUCTURE)
			conn_printf(s->conn, "BODYPARTSTRUCTURE %s%s", bps.data,
			            want & (IMAP_URLFETCH_BODY | IMAP_URLFETCH_BINARY) ? " " : "");
		if (want & IMAP_URLFETCH_BODY) {
			conn_puts(s->conn, "BODY ");
			rc = write_body(s, t) < 0 ? -1 : 1;
		} else if (want & IMAP_URLFETCH_BINARY) {
			uint64_t from, n;
			window(t, bin.len, &from, &n);
			/* literal8 when the decoded octets hold a NUL (RFC 3516 4.2) */
			bool nul = memchr(bin.data + from, '\0', (size_t)n) != NULL;
			conn_printf(s->conn, "BINARY %s{%llu}\r\n", nul ? "~" : "", (unsigned long long)n);
			conn_write(s->conn, bin.data + from, (size_t)n);
		}
		conn_puts(s->conn, ")");
	}
	buf_free(&bps);
	buf_free(&bin);
	return rc < 0 ? -1 : 0;
}

/* URLFETCH url [url ...], each url plain or "(url params)" (RFC 5524): each URL back
 * with its octets or the items it asked, or NIL. */
void cmd_urlfetch(struct imap_session *s, struct imap_command *c)
{
	const char *perr = NULL;
	struct imap_urlfetch_url *urls = c->nargs > 0 ? calloc(c->nargs, sizeof(*urls)) : NULL;
	if (c->nargs > 0 && urls == NULL)
		abort(); /* out of memory: as lib/buf does */
	if (imap_urlfetch_parse(c->args, c->nargs, urls, &perr) < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, perr);
		free(urls);
		return;
	}
	conn_puts(s->conn, "* URLFETCH");
	int rc = 0;
	for (size_t i = 0; i < c->nargs && rc == 0; i++) {
		struct url_target t = {0};
		conn_puts(s->conn, " ");
		imap_write_string(s, urls[i].url, strlen(urls[i].url));
		if (fetchable(s, urls[i].url, &t) != 1)
			conn_puts(s->conn, " NIL");
		else if (urls[i].want & IMAP_URLFETCH_EXTENDED)
			rc = write_extended(s, &t, urls[i].want);
		else {
			conn_puts(s->conn, " ");
			rc = write_body(s, &t);
		}
		target_free(&t);
	}
	free(urls);
	if (rc < 0) {
		conn_puts(s->conn, "\r\n* BYE Internal error reading a message\r\n");
		s->close_after_reply = true;
		return;
	}
	conn_puts(s->conn, "\r\n");
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

/* RESETKEY [mailbox [mechanism ...]] */
void cmd_resetkey(struct imap_session *s, struct imap_command *c)
{
	char name[STORE_MAILBOX_MAX], err[256];
	int rc = c->nargs > 0 ? imap_mailbox_arg(s, &c->args[0], name, sizeof(name)) : 0;
	if (rc == -1) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MAILBOX, c->name);
		return;
	}
	for (size_t i = 1; i < c->nargs; i++)
		if (!imap_arg_is_atom(&c->args[i], "INTERNAL")) {
			imap_send(s, c->tag, IMAP_R_URLAUTH_MECH);
			return;
		}
	if (rc == 0)
		rc = store_urlauth_reset(s->store, s->account.address, c->nargs > 0 ? name : NULL, err,
		                         sizeof(err));
	else
		rc = 0; /* a name that names no mailbox */
	if (rc < 0) {
		log_err("imap.store", "user=%s op=resetkey error=\"%s\"", s->account.address, err);
		imap_send(s, c->tag, IMAP_R_SERVERBUG);
	} else if (rc != 1 && c->nargs > 0) {
		imap_send(s, c->tag, IMAP_R_NONEXISTENT);
	} else {
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
}

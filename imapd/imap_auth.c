/* imap_auth.c: commands of any state and of the not-authenticated state: CAPABILITY,
 * NOOP, LOGOUT, ID, STARTTLS, and ENABLE. LOGIN and AUTHENTICATE are imap_login.c. */
#include <string.h>
#include <time.h>

#include "imapd/imap_cmd.h"
#include "lib/log.h"
#include "lib/str.h"

void cmd_capability(struct imap_session *s, struct imap_command *c)
{
	struct buf capa;
	buf_init(&capa, BUF_UNLIMITED);
	imap_capability_list(s, &capa);
	conn_printf(s->conn, "* CAPABILITY %s\r\n", capa.data);
	buf_free(&capa);
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_noop(struct imap_session *s, struct imap_command *c)
{
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_logout(struct imap_session *s, struct imap_command *c)
{
	conn_puts(s->conn, "* BYE Logging out\r\n");
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	s->state = IMAP_STATE_LOGOUT;
}

/* RFC 2971: the client's identification is only logged (bounded), ours is minimal. */
void cmd_id(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 1 || (c->args[0].type != IMAP_ARG_NIL && c->args[0].type != IMAP_ARG_LIST)) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_ID, c->name);
		return;
	}
	conn_puts(s->conn, "* ID (\"name\" \"MSS\" \"vendor\" \"MSS\")\r\n");
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}

void cmd_starttls(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 0) {
		imap_send_text(s, c->tag, IMAP_R_NO_ARGS, c->name);
		return;
	}
	if (conn_is_tls(s->conn) || s->tls == NULL) {
		imap_send(s, c->tag, IMAP_R_TLS_ACTIVE);
		return;
	}
	imap_send(s, c->tag, IMAP_R_STARTTLS_GO);
	conn_flush(s->conn);
	char err[256];
	conn_set_timeout(s->conn, s->cfg->tls_handshake_timeout);
	int rc = conn_start_tls(s->conn, s->tls, err, sizeof(err));
	conn_set_timeout(s->conn, s->cfg->imap_idle_timeout);
	if (rc < 0) {
		log_info("imap.tls_failed", "peer=%s error=\"%s\"", conn_peer_ip(s->conn), err);
		s->close_after_reply = true;
		return;
	}
	const struct tls_peer *p = conn_tls_peer(s->conn);
	imap_login_tls_ready(s);
	log_info("imap.starttls", "peer=%s version=%s cipher=%s client_cert=%d", conn_peer_ip(s->conn),
	         p->version, p->cipher, p->has_cert);
}

/* RFC 5161. Only extensions we advertise and implement can be enabled. */
void cmd_enable(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs == 0) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_CAPABILITIES, c->name);
		return;
	}
	struct buf en;
	int rc = 0;
	buf_init(&en, BUF_UNLIMITED);
	for (size_t i = 0; i < c->nargs; i++) {
		if (c->args[i].type != IMAP_ARG_ATOM) {
			imap_send_text(s, c->tag, IMAP_R_EXPECTS_CAPABILITIES, c->name);
			buf_free(&en);
			return;
		}
		if (str_ieq(c->args[i].str, "CONDSTORE") && !s->enabled_condstore) {
			imap_condstore_enable(s);
			rc |= buf_append_str(&en, " CONDSTORE");
		} else if (str_ieq(c->args[i].str, "QRESYNC") && !s->enabled_qresync) {
			/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE */
			imap_condstore_enable(s);
			s->enabled_qresync = true;
			rc |= buf_append_str(&en, " QRESYNC");
		} else if (str_ieq(c->args[i].str, "IMAP4rev2") && !s->enabled_rev2) {
			/* RFC 9051: ESEARCH results, UTF-8 mailbox names, no \Recent */
			s->enabled_rev2 = true;
			s->enabled_utf8 = true;
			imap_parser_set_utf8(s->parser, true);
			rc |= buf_append_str(&en, " IMAP4rev2");
		} else if (str_ieq(c->args[i].str, "UTF8=ACCEPT") && !s->enabled_utf8accept) {
			/* RFC 6855 3: UTF-8 mailbox names and quoted strings, APPEND UTF8 */
			s->enabled_utf8accept = true;
			s->enabled_utf8 = true;
			imap_parser_set_utf8(s->parser, true);
			rc |= buf_append_str(&en, " UTF8=ACCEPT");
		}
	}
	str_assert(rc, "en is BUF_UNLIMITED");
	conn_printf(s->conn, "* ENABLED%s\r\n", en.data);
	buf_free(&en);
	imap_send(s, c->tag, IMAP_R_ENABLED);
}

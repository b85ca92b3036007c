/* imap_compress.c: COMPRESS=DEFLATE (RFC 4978). After the tagged OK, both directions
 * are raw DEFLATE (lib/conn); once on, it stays on for the session. */
#include "imapd/imap_cmd.h"
#include "lib/log.h"
#include "lib/str.h"

void cmd_compress(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 1 || c->args[0].type != IMAP_ARG_ATOM) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_MECHANISM, c->name);
		return;
	}
	if (!str_ieq(c->args[0].str, "DEFLATE")) {
		imap_send(s, c->tag, IMAP_R_UNKNOWN_COMPRESSION);
		return;
	}
	if (conn_is_deflated(s->conn)) {
		imap_send(s, c->tag, IMAP_R_COMPRESSIONACTIVE);
		return;
	}
	imap_send(s, c->tag, IMAP_R_DEFLATE_ON);
	char err[128];
	if (conn_start_deflate(s->conn, err, sizeof(err)) < 0) {
		log_err("imap.compress", "peer=%s error=\"%s\"", conn_peer_ip(s->conn), err);
		s->close_after_reply = true;
	}
}

/* vault_patient_copy.c: the copy of a message that a patient's INBOX receives.
 *
 * A document the sender marked INVISIBLE_PATIENT is never shown to the patient
 * (REFERENCE.md): vault_file_message files it, from the original message, for
 * professionals only (vault_ps_user()). The INBOX copy must not carry it either, so
 * the parts holding such documents (the XDM archive, and the readable copies sent
 * beside it, which follow the archive's visibility as in filing) are replaced by a
 * short French note, and the copy gets its own Message-ID: the message as the sender
 * wrote it is never in the patient's mailboxes. */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

#include "directory/account.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_int.h"
#include "vault/vault_mime.h"
#include "vault/vault_xdm.h"

static const char notice[] =
    "Une pièce jointe de ce message est réservée aux professionnels de santé. Elle a été "
    "transmise à l'équipe de soins qui vous suit et n'est pas affichée ici.\r\n";

/* 1 when p is an IHE XDM archive with at least one INVISIBLE_PATIENT document, 0 when
 * it is one without, -1 when it is not an XDM archive. */
static int xdm_invisible(const struct vault_part *p)
{
	struct xdm_limits lim;
	struct xdm_archive *a = NULL;
	struct xdm_metadata *md = xcalloc(1, sizeof *md);
	char err[200];
	int rc = -1;
	xdm_limits_default(&lim);
	enum xdm_result r = xdm_open(p->data, p->len, &lim, &a, err, sizeof err);
	if (r == XDM_OK)
		r = xdm_read_metadata(a, md, err, sizeof err);
	if (r == XDM_OK) {
		rc = 0;
		for (size_t i = 0; i < md->ndocs; i++)
			rc |= md->docs[i].invisible_patient;
	}
	xdm_close(a);
	free(md);
	return rc;
}

/* Which parts to withhold: archives holding invisible documents, and when there is
 * one, every document part that is not an XDM archive (its readable copies). */
static size_t decide(const struct vault_parsed *msg, bool *strip)
{
	int kind[VAULT_MAX_PARTS];
	bool any = false;
	size_t n = 0;
	char mime[128];
	for (size_t i = 0; i < msg->nparts; i++) {
		const struct vault_part *p = &msg->parts[i];
		vault_sniff(p->data, p->len, p->declared_mime, p->filename, mime, sizeof mime);
		kind[i] = strcmp(mime, "application/zip") == 0 ? xdm_invisible(p) : -1;
		any |= kind[i] == 1;
	}
	for (size_t i = 0; i < msg->nparts; i++) {
		strip[i] = kind[i] == 1 || (any && kind[i] == -1);
		n += strip[i];
	}
	return any ? n : 0;
}

/* true when the header line at p (a field's first line) is one of names. */
static bool field_is(const char *p, size_t len, const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++) {
		size_t n = strlen(names[i]);
		if (len > n && p[n] == ':' && str_ieqn(p, names[i], n))
			return true;
	}
	return false;
}

/* Copies the header block (without its blank line) minus the named fields and their
 * continuation lines. Returns the offset of the body. */
static size_t copy_header(const char *data, size_t len, const char *const *drop, size_t ndrop,
                          struct buf *out)
{
	size_t i = 0;
	bool dropping = false;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;
		size_t linelen = end - i;
		if (linelen <= 2 && (data[i] == '\r' || data[i] == '\n'))
			return end; /* the blank line */
		if (data[i] != ' ' && data[i] != '\t')
			dropping = field_is(data + i, linelen, drop, ndrop);
		if (!dropping)
			buf_append(out, data + i, linelen);
		i = end;
	}
	return len;
}

/* Where the "--boundary" line before the part at start begins, with the line break
 * before it (RFC 2046 5.1.1: that CRLF belongs to the delimiter), so that removing from
 * there to the part's end leaves a well-formed multipart. start when not found. */
static size_t delimiter_start(const char *data, size_t from, size_t start)
{
	size_t i = start;
	if (i > from && data[i - 1] == '\n')
		i--;
	if (i > from && data[i - 1] == '\r')
		i--;
	size_t line = i;
	while (line > from && data[line - 1] != '\n')
		line--;
	if (i - line < 2 || data[line] != '-' || data[line + 1] != '-' || line == from)
		return start;
	size_t cut = line - 1; /* the '\n' ending the previous line */
	if (cut > from && data[cut - 1] == '\r')
		cut--;
	return cut;
}

static void replacement_part(struct buf *out)
{
	buf_append_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
	                    "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_base64(out, notice, sizeof notice - 1);
}

static int build(const struct mss_config *cfg, const char *data, size_t len, const struct vault_parsed *msg,
                 const bool *strip, struct buf *out)
{
	static const char *const id_only[] = {"Message-ID"};
	static const char *const id_and_mime[] = {"Message-ID", "MIME-Version", "Content-Type",
	                                          "Content-Transfer-Encoding", "Content-Disposition"};
	bool whole = false;
	char token[33];
	for (size_t i = 0; i < msg->nparts; i++)
		whole |= strip[i] && msg->parts[i].whole_body;
	mime_random_token(token);
	size_t body = copy_header(data, len, whole ? id_and_mime : id_only, whole ? 5 : 1, out);
	buf_printf(out, "Message-ID: <copie-patient.%s@%s>\r\n", token, cfg->patient_domain);
	if (whole) {
		buf_append_str(out, "MIME-Version: 1.0\r\n");
		replacement_part(out);
		return out->len > 0 ? 0 : -1;
	}
	buf_append_str(out, "\r\n");
	size_t at = body;
	bool noted = false;
	for (size_t i = 0; i < msg->nparts; i++) {
		const struct vault_part *p = &msg->parts[i];
		if (!strip[i])
			continue;
		size_t start = (size_t)(p->raw - data);
		if (p->raw < data || start < at || start + p->rawlen > len)
			return -1; /* never happens with libetpan's in-place parse: refuse, not guess */
		size_t cut = noted ? delimiter_start(data, at, start) : start;
		buf_append(out, data + at, cut - at);
		if (cut == start) /* one note for the message; later parts just go */
			replacement_part(out);
		noted = true;
		at = start + p->rawlen;
	}
	buf_append(out, data + at, len - at);
	return 0;
}

int vault_patient_copy(const struct mss_config *cfg, const char *data, size_t len, struct buf *out)
{
	struct vault_parsed *msg = xcalloc(1, sizeof *msg);
	bool strip[VAULT_MAX_PARTS];
	char err[200];
	int rc = 0;
	if (vault_parse_message(data, len, msg, err, sizeof err) == 0 && decide(msg, strip) > 0)
		rc = build(cfg, data, len, msg, strip, out) == 0 ? 1 : -1;
	vault_parsed_free(msg);
	free(msg);
	return rc;
}

/* Stores one message for the listed recipients' INBOX. */
static int deliver(struct store *store, const struct policy_message *m, const char *const *rcpts, size_t n,
                   const char *data, size_t len, const struct vault_inbox_hook *hook, char *err,
                   size_t errlen)
{
	if (n == 0)
		return 0;
	struct store_delivery d = {
	    .mail_from = m->mail_from, .rcpts = rcpts, .nrcpt = n, .data = data, .len = len};
	if (hook) {
		d.in_transaction = hook->fn;
		d.in_transaction_arg = hook->arg;
	}
	return store_deliver(store, &d, NULL, err, errlen);
}

int vault_deliver_inbox(struct store *store, const struct policy_message *m,
                        const struct vault_inbox_hook *hook, char *err, size_t errlen)
{
	const char **patients = xcalloc(m->nrcpt + 1, sizeof *patients);
	const char **others = xcalloc(m->nrcpt + 1, sizeof *others);
	size_t np = 0, no = 0;
	struct account a;
	struct buf copy;
	buf_init(&copy, BUF_UNLIMITED);
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (account_get(store, m->rcpts[i], &a) == 1 && a.role == ROLE_PATIENT)
			patients[np++] = m->rcpts[i];
		else
			others[no++] = m->rcpts[i];
	}
	int c = np ? vault_patient_copy(store_config(store), m->data, m->len, &copy) : 0;
	int rc;
	if (c < 0) {
		str_copy(err, errlen, "the patient's copy could not be built");
		rc = -1;
	} else if (c == 0) {
		rc = deliver(store, m, m->rcpts, m->nrcpt, m->data, m->len, hook, err, errlen);
	} else {
		/* Two deliveries: should the second fail, the sender retries and the first
		 * recipients get the message twice, never zero times. The hook runs with the
		 * second, so the audit records say delivered only once all is stored. */
		log_info("vault_patient_copy", "queue_id=%s patients=%zu withheld=invisible_patient",
		         m->queue_id ? m->queue_id : "-", np);
		rc = deliver(store, m, others, no, m->data, m->len, NULL, err, errlen);
		if (rc == 0)
			rc = deliver(store, m, patients, np, copy.data, copy.len, hook, err, errlen);
	}
	buf_free(&copy);
	free(patients);
	free(others);
	return rc;
}

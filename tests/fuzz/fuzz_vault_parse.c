/* fuzz-libs: vault lib */
/* fuzz_vault_parse.c: the vault's view of an incoming message (libetpan parse, parts
 * decoded, types sniffed) and the document messages built from what it finds, on
 * hostile messages. Never crashes; every built document message is CRLF-clean. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "vault/vault_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vault_parsed msg; /* large: keep it off the stack */

static void build(const struct vault_part *p)
{
	struct vault_doc d;
	struct buf out;
	memset(&d, 0, sizeof d);
	d.data = p->data;
	d.len = p->len;
	vault_sniff(p->data, p->len, p->declared_mime, p->filename, d.mime, sizeof d.mime);
	memcpy(d.filename, p->filename, sizeof d.filename);
	d.cls = vault_classify_guess(d.mime, d.filename, msg.subject);
	memcpy(d.title, msg.subject, sizeof d.title - 1);
	buf_init(&out, BUF_UNLIMITED);
	if (vault_build_document(&out, &d, "dr.martin@pro.mss.test", "146026322000196@patient.mss.test",
	                         msg.message_id, "patient.mss.test") == 0) {
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] == '\n' && (i == 0 || out.data[i - 1] != '\r'))
				abort(); /* a bare LF in a message we would store */
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (vault_parse_message((const char *)data, size, &msg, err, sizeof err) != 0)
		return 0;
	for (size_t i = 0; i < msg.nparts; i++)
		build(&msg.parts[i]);
	vault_parsed_free(&msg);
	return 0;
}

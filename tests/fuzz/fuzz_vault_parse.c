/* fuzz-libs: vault audit directory store msg lib */
/* fuzz_vault_parse.c: what the vault reads of a hostile message (parsed once, every
 * part decoded and sniffed, archives opened, CDA read) and the document messages built
 * from it. Never crashes; every sniffed type is a bare type/subtype; every built
 * document message is CRLF-clean and holds no header line the sender wrote. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "msg/msg.h"
#include "vault/vault_inspect.h"
#include "vault/vault_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void build(const struct msg *m, const struct vault_item *it)
{
	struct vault_doc d;
	struct buf out;
	memset(&d, 0, sizeof d);
	d.data = it->data.data;
	d.len = it->data.len;
	memcpy(d.mime, it->mime, sizeof d.mime);
	memcpy(d.filename, m->parts[it->part].filename, sizeof d.filename);
	d.cls = vault_classify_guess(d.mime, d.filename, m->h.subject);
	memcpy(d.title, m->h.subject, sizeof d.title - 1);
	if (it->has_cda)
		memcpy(d.author, it->cda.title, sizeof d.author - 1);
	struct vault_build b = {.doc = &d,
	                        .from = "dr.martin@pro.mss.test",
	                        .sender_name = "Dr Martin",
	                        .patient = "146026322000196@patient.mss.test",
	                        .source_message_id = m->h.message_id,
	                        .service_domain = "patient.mss.test",
	                        .timezone = "UTC"};
	buf_init(&out, BUF_UNLIMITED);
	if (vault_build_document(&out, &b) == 0) {
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] == '\n' && (i == 0 || out.data[i - 1] != '\r'))
				abort(); /* a bare LF in a message we would store */
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mss_config cfg;
	struct msg m;
	struct vault_inspection in;
	struct vault_limits lim;
	char err[160];
	cfg.max_message_size = 25u * 1024 * 1024;
	cfg.vault_max_documents = 16;
	vault_limits_from_config(&cfg, &lim);
	if (msg_parse((const char *)data, size, NULL, &m, err, sizeof err) != 0)
		return 0;
	if (vault_inspect(&m, &lim, &in) == 0)
		for (size_t i = 0; i < in.nitems; i++) {
			if (!msg_mime_type_valid(in.items[i].mime))
				abort();
			if (in.items[i].kind == VITEM_DOCUMENT)
				build(&m, &in.items[i]);
		}
	vault_inspection_free(&in);
	msg_free(&m);
	return 0;
}

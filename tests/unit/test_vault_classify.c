/* test_vault_classify.c: LOINC table, the administrator's file, guesses without
 * metadata, and the MIME building blocks the vault's messages use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "vault/vault_classify.h"
#include "vault/vault_mime.h"

static void test_codes(void **state)
{
	static const struct {
		const char *code;
		enum vault_class cls;
	} rows[] = {
	    {"57833-6", VAULT_ORDONNANCES},     {"11502-2", VAULT_BIOLOGIE},
	    {"18748-4", VAULT_IMAGERIE},        {"11488-4", VAULT_COMPTES_RENDUS},
	    {"18842-5", VAULT_HOSPITALISATION}, {"11369-6", VAULT_VACCINATIONS},
	};
	enum vault_class c;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		assert_int_equal(vault_classify_code(rows[i].code, &c), 0);
		assert_int_equal(c, rows[i].cls);
	}
	assert_int_equal(vault_classify_code("99999-9", &c), -1);
	assert_int_equal(vault_classify_code("", &c), -1);
	assert_int_equal(vault_classify_code_list("99999-9, 18748-4^2.16.840.1.113883.6.1", &c), 0);
	assert_int_equal(c, VAULT_IMAGERIE);
	assert_int_equal(vault_classify_code_list("", &c), -1);
}

static void test_names(void **state)
{
	enum vault_class c;
	assert_string_equal(vault_class_name(VAULT_COMPTES_RENDUS), "Comptes-rendus");
	assert_int_equal(vault_class_parse("biologie", &c), 0);
	assert_int_equal(c, VAULT_BIOLOGIE);
	assert_int_equal(vault_class_parse("Radiologie", &c), -1);
}

static void test_guess(void **state)
{
	static const struct {
		const char *mime, *file, *subject;
		enum vault_class cls;
	} rows[] = {
	    {"application/pdf", "ordonnance_2026.pdf", "", VAULT_ORDONNANCES},
	    {"application/pdf", "20261129_CR_DUPONT_Jean.pdf", "", VAULT_COMPTES_RENDUS},
	    {"application/pdf", "resultats.pdf", "Bilan biologique", VAULT_BIOLOGIE},
	    {"application/pdf", "x.pdf", "Échographie abdominale", VAULT_IMAGERIE},
	    {"image/jpeg", "photo.jpg", "Votre ordonnance", VAULT_IMAGERIE},
	    {"application/pdf", "lettre de sortie.pdf", "", VAULT_HOSPITALISATION},
	    {"application/pdf", "carnet-vaccination.pdf", "", VAULT_VACCINATIONS},
	    {"application/pdf", "confirmation.pdf", "", VAULT_AUTRES}, /* "irm" only as a word */
	    {"application/octet-stream", "", "", VAULT_AUTRES},
	    {NULL, NULL, NULL, VAULT_AUTRES},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		enum vault_class c = vault_classify_guess(rows[i].mime, rows[i].file, rows[i].subject);
		if (c != rows[i].cls)
			fail_msg("row %zu: got %s", i, vault_class_name(c));
	}
}

static void test_admin_file(void **state)
{
	char path[] = "/tmp/test_classes.XXXXXX", err[256];
	enum vault_class c;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs("# local table\nLOCAL-1 = Vaccinations\n11502-2 Autres   # override\n\n", f);
	fclose(f);
	assert_int_equal(vault_classes_load(path, err, sizeof err), 0);
	assert_int_equal(vault_classify_code("LOCAL-1", &c), 0);
	assert_int_equal(c, VAULT_VACCINATIONS);
	assert_int_equal(vault_classify_code("11502-2", &c), 0);
	assert_int_equal(c, VAULT_AUTRES);
	f = fopen(path, "w");
	fputs("OK-1 = Biologie\nBAD-1 = Radiologie\n", f);
	fclose(f);
	assert_int_equal(vault_classes_load(path, err, sizeof err), -1);
	assert_non_null(strstr(err, ":2: unknown class"));
	assert_int_equal(vault_classify_code("OK-1", &c), -1); /* a bad file loads nothing */
	assert_int_equal(vault_classify_code("11502-2", &c), 0);
	assert_int_equal(c, VAULT_BIOLOGIE);
	unlink(path);
	assert_int_equal(vault_classes_load("", err, sizeof err), 0);
}

static void test_mime_base64_lines(void **state)
{
	unsigned char data[1000], back[1000];
	size_t n = 0, off = 0;
	struct buf b;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(mime_base64(&b, data, sizeof data), 0);
	/* Every line is at most 76 characters and ends with CRLF. */
	for (char *line = b.data; *line;) {
		char *end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 76);
		size_t got = 0;
		assert_int_equal(sodium_base642bin(back + off, sizeof back - off, line, (size_t)(end - line),
		                                   NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL),
		                 0);
		off += got;
		line = end + 2;
		n++;
	}
	assert_int_equal(off, sizeof data);
	assert_memory_equal(back, data, sizeof data);
	buf_free(&b);
}

static void test_mime_header_encoding(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(mime_header(&b, "Subject", "plain ascii"), 0);
	assert_string_equal(b.data, "Subject: plain ascii\r\n");
	buf_reset(&b);
	assert_int_equal(mime_header(&b, "X-MSS-Author", "Hélène Éléonore Dupont-Préfontaine de la Gâtinais"),
	                 0);
	assert_true(strncmp(b.data, "X-MSS-Author: =?UTF-8?B?", 24) == 0);
	for (char *line = b.data; *line;) {
		char *end = strstr(line, "\r\n");
		assert_true(end - line <= 78);
		line = end + 2;
	}
	buf_reset(&b);
	struct buf longv;
	buf_init(&longv, BUF_UNLIMITED);
	for (int i = 0; i < 40; i++)
		assert_int_equal(buf_append_str(&longv, "word1234 "), 0);
	assert_int_equal(mime_header(&b, "Subject", longv.data), 0);
	buf_free(&longv);
	for (char *line = b.data; *line;) {
		char *end = strstr(line, "\r\n");
		assert_true(end - line <= 78);
		line = end + 2;
	}
	buf_reset(&b);
	assert_int_equal(mime_header(&b, "Subject", "a\r\nBcc: x@y"), 0);
	assert_string_equal(b.data, "Subject: a  Bcc: x@y\r\n"); /* no header injection */
	buf_reset(&b);
	assert_int_equal(mime_attachment(&b, "B", "application/pdf", "résumé \"1\".pdf", "x", 1), 0);
	assert_non_null(strstr(b.data, "filename*=utf-8''r%C3%A9sum%C3%A9%20%221%22.pdf"));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_guess),
	    cmocka_unit_test(test_admin_file),
	    cmocka_unit_test(test_mime_base64_lines),
	    cmocka_unit_test(test_mime_header_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

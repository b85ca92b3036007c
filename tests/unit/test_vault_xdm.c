/* test_vault_xdm.c: the XDS metadata reader (table-driven) and the archive limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "lib/str.h"
#include "vault/vault_cda.h"
#include "vault/vault_xdm.h"

#define NS                                                                                                   \
	"xmlns:lcm=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\" "                                         \
	"xmlns:rim=\"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0\""
#define ENTRY_OPEN "<rim:ExtrinsicObject id=\"D1\" mimeType=\"text/xml\">"
#define SLOT(n, v)                                                                                           \
	"<rim:Slot name=\"" n "\"><rim:ValueList><rim:Value>" v "</rim:Value></rim:ValueList></rim:Slot>"
#define CLS(scheme, node, inner)                                                                             \
	"<rim:Classification classificationScheme=\"" scheme "\" nodeRepresentation=\"" node "\">" inner     \
	"</rim:Classification>"
#define TYPE "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
#define CONF "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
#define AUTHOR "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
#define PID "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
#define PATIENT_ID(v) "<rim:ExternalIdentifier identificationScheme=\"" PID "\" value=\"" v "\"/>"
#define DOC(inner)                                                                                           \
	"<lcm:SubmitObjectsRequest " NS "><rim:RegistryObjectList>" ENTRY_OPEN inner                         \
	"</rim:ExtrinsicObject></rim:RegistryObjectList></lcm:SubmitObjectsRequest>"

/* An entry with what follows it in the RegistryObjectList (ebRIM 3.0: a Classification
 * or an ExternalIdentifier may stand outside the object it names). */
#define DOC_AND(inner, after)                                                                                \
	"<lcm:SubmitObjectsRequest " NS "><rim:RegistryObjectList>" ENTRY_OPEN inner                         \
	"</rim:ExtrinsicObject>" after "</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"
#define CONF_OF(object, node)                                                                                \
	"<rim:Classification classificationScheme=\"" CONF "\" classifiedObject=\"" object                   \
	"\" nodeRepresentation=\"" node "\"/>"
#define PATIENT_OF(object, v)                                                                                \
	"<rim:ExternalIdentifier identificationScheme=\"" PID "\" registryObject=\"" object "\" value=\"" v  \
	"\"/>"
#define INS_A "146026322000196^^^&amp;1.2.250.1.213.1.4.10&amp;ISO"
#define INS_B "279035121518989^^^&amp;1.2.250.1.213.1.4.10&amp;ISO"

struct md_case {
	const char *name;
	const char *xml;
	int rc;
	const char *ins, *oid, *type, *author, *uri, *title;
	bool masked, invisible;
};

static const struct md_case cases[] = {
    {"full entry",
     DOC(SLOT("creationTime", "20261129083000") SLOT("URI", "DOC0001.XML")
             SLOT("size", "12") "<rim:Name><rim:LocalizedString value=\"CR bio\"/></rim:Name>" CLS(
                 AUTHOR, "", SLOT("authorPerson", "801234567890^MARTIN^Jean^^^^^^&amp;1.2&amp;ISO"))
                 CLS(TYPE, "11502-2",
                     SLOT("codingScheme", "2.16.840.1.113883.6.1") "<rim:Name><rim:LocalizedString "
                                                                   "value=\"CR d'examens\"/></rim:Name>")
                     CLS(CONF, "N", "") PATIENT_ID("146026322000196^^^&amp;1.2.250.1.213.1.4.10&amp;ISO")),
     0, "146026322000196", "1.2.250.1.213.1.4.10", "11502-2", "Jean MARTIN", "DOC0001.XML", "CR bio", false,
     false},
    {"confidentiality flags and institution author",
     DOC(SLOT("URI", "D.XML") CLS(CONF, "MASQUE_PS", "") CLS(CONF, "INVISIBLE_PATIENT", "")
             CLS(AUTHOR, "", SLOT("authorInstitution", "Hopital Test^^^^^&amp;1.2&amp;ISO^IDNST"))
                 PATIENT_ID("1^^^&amp;1.2.3&amp;ISO")),
     0, "1", "1.2.3", "", "Hopital Test", "D.XML", "", true, true},
    {"other prefix names",
     "<a:SubmitObjectsRequest xmlns:a=\"urn:x\"><a:ExtrinsicObject id=\"x\">"
     "<a:Slot name=\"URI\"><a:ValueList><a:Value>X.XML</a:Value></a:ValueList></a:Slot>"
     "</a:ExtrinsicObject></a:SubmitObjectsRequest>",
     0, "", "", "", "", "X.XML", "", false, false},
    /* a sender's spelling never makes a document more visible (issue 11) */
    {"confidentiality outside its entry", DOC_AND(SLOT("URI", "D.XML"), CONF_OF("D1", "INVISIBLE_PATIENT")),
     0, "", "", "", "", "D.XML", "", false, true},
    {"scheme UUID in capitals",
     DOC(SLOT("URI", "D.XML") "<rim:Classification classificationScheme=\"URN:UUID:F4F85EAC-E6CB-4883-B524-"
                              "F2705394840F\" nodeRepresentation=\"MASQUE_PS\"/>"),
     0, "", "", "", "", "D.XML", "", true, false},
    {"code in lower case with blanks", DOC(SLOT("URI", "D.XML") CLS(CONF, " invisible_patient ", "")), 0, "",
     "", "", "", "D.XML", "", false, true},
    {"confidentiality naming no entry", DOC_AND(SLOT("URI", "D.XML"), CONF_OF("D9", "INVISIBLE_PATIENT")), -1,
     .ins = ""},
    /* an unknown code might mean a visibility the server would not apply: fail closed */
    {"unknown visibility code", DOC(SLOT("URI", "D.XML") CLS(CONF, "INVISIBLE-PATIENT", "")), -1, .ins = ""},
    {"unknown code outside its entry", DOC_AND(SLOT("URI", "D.XML"), CONF_OF("D1", "SECRET_PS")), -1,
     .ins = ""},
    {"HL7 codes change nothing", DOC(SLOT("URI", "D.XML") CLS(CONF, "R", "") CLS(CONF, " v ", "")), 0, "", "",
     "", "", "D.XML", "", false, false},
    {"confidentiality outside any entry, naming none", DOC_AND(SLOT("URI", "D.XML"), CONF_OF("", "N")), -1,
     .ins = ""},
    {"patientId outside its entry", DOC_AND(SLOT("URI", "D.XML"), PATIENT_OF("D1", INS_A)), 0,
     "146026322000196", "1.2.250.1.213.1.4.10", "", "", "D.XML", "", false, false},
    {"two patients for one entry", DOC_AND(SLOT("URI", "D.XML") PATIENT_ID(INS_A), PATIENT_OF("D1", INS_B)),
     -1, .ins = ""},
    {"two patients inside one entry", DOC(SLOT("URI", "D.XML") PATIENT_ID(INS_A) PATIENT_ID(INS_B)), -1,
     .ins = ""},
    {"malformed", "<lcm:SubmitObjectsRequest " NS "><oops", -1, .ins = ""},
    {"unbound prefix", "<lcm:SubmitObjectsRequest><x/></lcm:SubmitObjectsRequest>", -1, .ins = ""},
    {"doctype refused", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><SubmitObjectsRequest/>", -1,
     .ins = ""},
    {"wrong root", "<html><ExtrinsicObject/></html>", -1, .ins = ""},
    {"no entries", "<SubmitObjectsRequest/>", -1, .ins = ""},
    {"empty", "", -1, .ins = ""},
    /* an identifier longer than its field: unreadable, never cut (issue 16) */
    {"typeCode past 63 bytes",
     DOC(SLOT("URI", "D.XML")
             CLS(TYPE, "11502-2XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "")),
     -1, .ins = ""},
    {"URI past 255 bytes",
     DOC(SLOT("URI",
              "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
              "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
              "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD.XML")),
     -1, .ins = ""},
    /* a title longer than its field: shortened visibly, the document kept */
    {"long title",
     DOC(SLOT("URI",
              "D.XML") "<rim:Name><rim:LocalizedString "
                       "value="
                       "\"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
                       "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
                       "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
                       "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\"/></rim:Name>"),
     0, "", "", "", "", "D.XML",
     "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
     "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
     "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\xe2\x80\xa6",
     false, false},
};

static void test_metadata_table(void **state)
{
	static struct xdm_metadata md;
	char err[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct md_case *c = &cases[i];
		int rc = xdm_metadata_parse(c->xml, strlen(c->xml), &md, err, sizeof err);
		if (rc != c->rc)
			fail_msg("case \"%s\": rc %d (%s)", c->name, rc, err);
		if (rc != 0)
			continue;
		assert_int_equal(md.ndocs, 1);
		const struct xdm_document *d = &md.docs[0];
		assert_string_equal(d->patient_ins, c->ins);
		assert_string_equal(d->patient_oid, c->oid);
		assert_string_equal(d->type_code, c->type);
		assert_string_equal(d->author, c->author);
		assert_string_equal(d->uri, c->uri);
		assert_string_equal(d->title, c->title);
		assert_int_equal(d->masked_ps, c->masked);
		assert_int_equal(d->invisible_patient, c->invisible);
	}
}

static void test_ins_oids(void **state)
{
	assert_true(xdm_is_ins_oid("1.2.250.1.213.1.4.8"));
	assert_true(xdm_is_ins_oid("1.2.250.1.213.1.4.9"));
	assert_true(xdm_is_ins_oid("1.2.250.1.213.1.4.10"));
	assert_true(xdm_is_ins_oid("1.2.250.1.213.1.4.11"));
	assert_false(xdm_is_ins_oid("1.2.250.1.213.1.4.2"));
	assert_false(xdm_is_ins_oid(""));
}

/* Builds a ZIP in memory with libzip: entries name/data pairs. */
static void *make_zip(const char *const *names, const void *const *datas, const size_t *lens, size_t n,
                      size_t *len)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
	zip_source_keep(src);
	zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	assert_non_null(za);
	for (size_t i = 0; i < n; i++) {
		zip_source_t *s = zip_source_buffer(za, datas[i], lens[i], 0);
		assert_true(zip_file_add(za, names[i], s, 0) >= 0);
	}
	assert_int_equal(zip_close(za), 0);
	zip_stat_t st;
	zip_source_stat(src, &st);
	void *out = malloc(st.size);
	zip_source_open(src);
	*len = (size_t)zip_source_read(src, out, st.size);
	zip_source_close(src);
	zip_source_free(src);
	return out;
}

static void test_archive_limits_and_reads(void **state)
{
	static struct xdm_metadata md;
	struct xdm_limits lim;
	struct xdm_archive *a;
	char err[256];
	size_t len;
	const char *meta = DOC(SLOT("URI", "DOC0001.XML") SLOT("size", "5")
	                           SLOT("hash", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
	                               PATIENT_ID("146026322000196^^^&amp;1.2.250.1.213.1.4.10&amp;ISO"));
	char *zeros = calloc(1, 4 * 1024 * 1024);
	const char *names[] = {"IHE_XDM/SUBSET01/METADATA.XML", "IHE_XDM/SUBSET01/DOC0001.XML", "BIG"};
	const void *datas[] = {meta, "hello", zeros};
	size_t lens[] = {strlen(meta), 5, 4 * 1024 * 1024};

	void *z = make_zip(names, datas, lens, 2, &len);
	xdm_limits_default(&lim);
	assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_OK);
	assert_int_equal(xdm_read_metadata(a, &md, err, sizeof err), XDM_OK);
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(xdm_read_document(a, md.docs[0].uri, &b, err, sizeof err), 0);
	assert_int_equal(b.len, 5);
	assert_int_equal(xdm_check_document(&md.docs[0], b.data, b.len, err, sizeof err), 0);
	assert_int_equal(xdm_check_document(&md.docs[0], "hellO", 5, err, sizeof err), -1);
	assert_int_equal(xdm_read_document(a, "../../etc/passwd", &b, err, sizeof err), -1);
	assert_int_equal(xdm_read_document(a, "MISSING.XML", &b, err, sizeof err), -1);
	buf_free(&b);
	xdm_close(a);
	free(z);

	/* 4 MiB of zeros compress far beyond ratio 200: refused before inflating. */
	z = make_zip(names, datas, lens, 3, &len);
	assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_TOO_LARGE);
	lim.max_ratio = 100000;
	lim.max_total = 1024 * 1024;
	assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_TOO_LARGE);
	lim.max_total = 64 * 1024 * 1024;
	lim.max_entries = 2;
	assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_TOO_LARGE);
	free(z);

	/* Without METADATA.XML, and not a ZIP at all. */
	z = make_zip(names + 1, datas + 1, lens + 1, 1, &len);
	xdm_limits_default(&lim);
	assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_OK);
	assert_int_equal(xdm_read_metadata(a, &md, err, sizeof err), XDM_NO_METADATA);
	xdm_close(a);
	free(z);
	assert_int_equal(xdm_open("PK\3\4garbage", 11, &lim, &a, err, sizeof err), XDM_NOT_ZIP);
	free(zeros);
}

/* What a patient could open that the server does not read makes the archive opaque:
 * an archive or a message inside it, a second submission set. */
static void test_opaque_contents(void **state)
{
	struct xdm_limits lim;
	struct xdm_archive *a;
	char err[256];
	size_t len, inner_len;
	static const struct {
		const char *what, *name;
		int nested; /* 1: the entry is a ZIP; 0: the text below */
		const char *text;
		enum xdm_result want;
	} opaque_cases[] = {
	    {"plain files", "scan.pdf", 0, "%PDF-1.4 x", XDM_OK},
	    {"a ZIP by its bytes", "DOC0002.XML", 1, NULL, XDM_OPAQUE},
	    {"a ZIP by its name", "dossier.ZIP", 0, "not really", XDM_OPAQUE},
	    {"gzip", "data.bin", 0, "\x1f\x8b\x08 rest", XDM_OPAQUE},
	    {"7z", "x", 0, "7z\xbc\xaf\x27\x1c....", XDM_OPAQUE},
	    {"a message", "transfert.eml", 0, "From: a@b\r\n\r\nx", XDM_OPAQUE},
	    {"a second submission set", "IHE_XDM/SUBSET02/METADATA.XML", 0, "<x/>", XDM_OPAQUE},
	    {"metadata under another folder", "copie/IHE_XDM/SUBSET01/metadata.xml", 0, "<x/>", XDM_OPAQUE},
	    {"the metadata in lower case", "ihe_xdm/subset01/metadata.xml", 0, "<x/>", XDM_OK},
	};
	(void)state;
	const char *iname[] = {"a.txt"};
	const void *idata[] = {"inner"};
	size_t ilen[] = {5};
	void *inner = make_zip(iname, idata, ilen, 1, &inner_len);
	xdm_limits_default(&lim);
	for (size_t i = 0; i < sizeof opaque_cases / sizeof opaque_cases[0]; i++) {
		const char *names[] = {"README.TXT", opaque_cases[i].name};
		const void *datas[] = {"readme",
		                       opaque_cases[i].nested ? inner : (const void *)opaque_cases[i].text};
		size_t lens[] = {6, opaque_cases[i].nested ? inner_len : strlen(opaque_cases[i].text)};
		void *z = make_zip(names, datas, lens, 2, &len);
		print_message("case: %s\n", opaque_cases[i].what);
		assert_int_equal(xdm_open(z, len, &lim, &a, err, sizeof err), XDM_OK);
		assert_int_equal(xdm_check_opaque(a, err, sizeof err), opaque_cases[i].want);
		xdm_close(a);
		free(z);
	}
	assert_true(xdm_is_container(inner, inner_len, NULL));
	assert_false(xdm_is_container("%PDF-1.4", 8, "cr.pdf"));
	assert_true(xdm_is_container("%PDF-1.4", 8, "cr.pdf.gz"));
	free(inner);
}

static void test_cda(void **state)
{
	struct cda_info ci;
	char err[256];
	const char *ok =
	    "<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
	    "<code code=\"11502-2\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>CR de biologie</title>"
	    "<recordTarget><patientRole><id root=\"1.2.250.1.71.4.2.1\" extension=\"local\"/>"
	    "<id root=\"1.2.250.1.213.1.4.10\" extension=\"146026322000196\"/></patientRole></recordTarget>"
	    "<component><structuredBody><component><section><code code=\"x\"/><title>t</title>"
	    "</section></component></structuredBody></component></ClinicalDocument>";
	assert_int_equal(cda_parse(ok, strlen(ok), &ci, err, sizeof err), 0);
	assert_string_equal(ci.code, "11502-2");
	assert_string_equal(ci.title, "CR de biologie");
	assert_string_equal(ci.ins, "146026322000196");
	assert_string_equal(ci.oid, "1.2.250.1.213.1.4.10");
	const char *no_ins =
	    "<ClinicalDocument><recordTarget><patientRole><id root=\"1.2.3\" extension=\"9\"/>"
	    "</patientRole></recordTarget></ClinicalDocument>";
	assert_int_equal(cda_parse(no_ins, strlen(no_ins), &ci, err, sizeof err), 0);
	assert_string_equal(ci.ins, "");
	assert_int_equal(cda_parse("<html/>", 7, &ci, err, sizeof err), -1);
	assert_int_equal(cda_parse("<ClinicalDocument>", 18, &ci, err, sizeof err), -1);
	/* a patient id longer than its field is an unreadable document, never a cut id
	 * (issue 16): 15 digits and 60 more would once have been filed under the 63 first */
	char long_ins[600];
	snprintf(long_ins, sizeof long_ins,
	         "<ClinicalDocument><recordTarget><patientRole>"
	         "<id root=\"1.2.250.1.213.1.4.10\" extension=\"146026322000196%060d\"/>"
	         "</patientRole></recordTarget></ClinicalDocument>",
	         0);
	assert_int_equal(cda_parse(long_ins, strlen(long_ins), &ci, err, sizeof err), -1);
	assert_non_null(strstr(err, "patient id longer than 63 bytes"));
	assert_string_equal(ci.ins, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metadata_table),
	    cmocka_unit_test(test_ins_oids),
	    cmocka_unit_test(test_archive_limits_and_reads),
	    cmocka_unit_test(test_opaque_contents),
	    cmocka_unit_test(test_cda),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

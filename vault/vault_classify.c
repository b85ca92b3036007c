/* vault_classify.c: LOINC table, the administrator's extension file, and the guess
 * from MIME type, file name and subject for documents without metadata. */
#include "vault/vault_classify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"

static const char *const class_names[VAULT_NCLASSES] = {
    "Ordonnances", "Biologie", "Imagerie", "Comptes-rendus", "Hospitalisation", "Vaccinations", "Autres",
};

struct code_row {
	const char *code;
	enum vault_class cls;
};

/* LOINC document types (and the ANS volets' use of them). */
static const struct code_row builtin[] = {
    /* prescriptions, dispensing */
    {"57833-6", VAULT_ORDONNANCES}, /* Prescription for medication */
    {"57832-8", VAULT_ORDONNANCES}, /* Prescription for diagnostic or specialist care */
    {"57828-6", VAULT_ORDONNANCES}, /* Prescription list */
    {"57829-4", VAULT_ORDONNANCES}, /* Prescription for durable medical equipment */
    {"60593-1", VAULT_ORDONNANCES}, /* Medication dispensed */
    /* laboratory */
    {"11502-2", VAULT_BIOLOGIE}, /* Laboratory report */
    {"26436-6", VAULT_BIOLOGIE}, /* Laboratory studies */
    {"18719-5", VAULT_BIOLOGIE}, /* Chemistry studies */
    {"18723-7", VAULT_BIOLOGIE}, /* Hematology studies */
    {"18725-2", VAULT_BIOLOGIE}, /* Microbiology studies */
    {"18727-8", VAULT_BIOLOGIE}, /* Serology studies */
    {"18717-9", VAULT_BIOLOGIE}, /* Blood bank studies */
    {"18729-4", VAULT_BIOLOGIE}, /* Urinalysis studies */
    {"11526-1", VAULT_BIOLOGIE}, /* Pathology study */
    {"60568-3", VAULT_BIOLOGIE}, /* Pathology synoptic report */
    /* imaging */
    {"18748-4", VAULT_IMAGERIE}, /* Diagnostic imaging study */
    {"18726-0", VAULT_IMAGERIE}, /* Radiology studies */
    {"18747-6", VAULT_IMAGERIE}, /* CT study */
    {"18755-9", VAULT_IMAGERIE}, /* MRI study */
    {"18760-9", VAULT_IMAGERIE}, /* Ultrasound study */
    {"18757-5", VAULT_IMAGERIE}, /* Nuclear medicine study */
    {"18782-3", VAULT_IMAGERIE}, /* Radiology study observation */
    {"30746-2", VAULT_IMAGERIE}, /* Chest X-ray */
    {"55113-5", VAULT_IMAGERIE}, /* Key images */
    {"68604-8", VAULT_IMAGERIE}, /* Radiology diagnostic study note */
    /* consultation notes, letters, procedures */
    {"11488-4", VAULT_COMPTES_RENDUS}, /* Consult note */
    {"51845-6", VAULT_COMPTES_RENDUS}, /* Outpatient consult note */
    {"11506-3", VAULT_COMPTES_RENDUS}, /* Progress note */
    {"28570-0", VAULT_COMPTES_RENDUS}, /* Procedure note */
    {"11504-8", VAULT_COMPTES_RENDUS}, /* Surgical operation note */
    {"34794-8", VAULT_COMPTES_RENDUS}, /* Interdisciplinary conference (RCP) */
    {"57133-1", VAULT_COMPTES_RENDUS}, /* Referral note (letter) */
    {"34133-9", VAULT_COMPTES_RENDUS}, /* Summary of episode note */
    {"34117-2", VAULT_COMPTES_RENDUS}, /* History and physical note */
    {"60591-5", VAULT_COMPTES_RENDUS}, /* Patient summary (synthese medicale) */
    {"34109-9", VAULT_COMPTES_RENDUS}, /* Note */
    /* hospital stays */
    {"18842-5", VAULT_HOSPITALISATION}, /* Discharge summary */
    {"34105-7", VAULT_HOSPITALISATION}, /* Hospital discharge summary */
    {"11490-0", VAULT_HOSPITALISATION}, /* Physician discharge summary */
    {"59258-4", VAULT_HOSPITALISATION}, /* Emergency department discharge summary */
    {"18761-7", VAULT_HOSPITALISATION}, /* Transfer summary note */
    {"11492-6", VAULT_HOSPITALISATION}, /* History and physical note, hospital */
    {"34111-5", VAULT_HOSPITALISATION}, /* Emergency department note */
    /* immunisation */
    {"11369-6", VAULT_VACCINATIONS}, /* History of immunization */
    {"82593-5", VAULT_VACCINATIONS}, /* Immunization summary report */
    {"87273-9", VAULT_VACCINATIONS}, /* Immunization note */
};

/* The administrator's rows (vault_classes_file), searched first. */
static struct {
	char (*code)[64];
	enum vault_class *cls;
	size_t n;
} extra;

const char *vault_class_name(enum vault_class c)
{
	return (c >= 0 && c < VAULT_NCLASSES) ? class_names[c] : class_names[VAULT_AUTRES];
}

int vault_class_parse(const char *name, enum vault_class *out)
{
	for (int i = 0; i < VAULT_NCLASSES; i++) {
		if (str_ieq(name, class_names[i])) {
			*out = (enum vault_class)i;
			return 0;
		}
	}
	return -1;
}

static void extra_clear(void)
{
	free(extra.code);
	free(extra.cls);
	memset(&extra, 0, sizeof extra);
}

static void extra_add(const char *code, enum vault_class c)
{
	extra.code = xrealloc(extra.code, (extra.n + 1) * sizeof *extra.code);
	extra.cls = xrealloc(extra.cls, (extra.n + 1) * sizeof *extra.cls);
	str_assert(str_copy(extra.code[extra.n], sizeof extra.code[extra.n], code),
	           "the caller refuses codes of 64 bytes or more");
	extra.cls[extra.n++] = c;
}

/* "CODE = Class" or "CODE Class"; blank lines and '#' comments ignored. */
static int parse_line(char *line, const char *path, unsigned lineno, char *err, size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	str_trim(line);
	if (!line[0])
		return 0;
	size_t kl = strcspn(line, " \t=");
	char *rest = line + kl;
	if (*rest)
		*rest++ = '\0';
	rest += strspn(rest, " \t=");
	str_trim(rest);
	enum vault_class c;
	if (kl == 0 || kl >= 64 || !rest[0]) {
		str_error(err, errlen, "%s:%u: expected \"CODE = Class\"", path, lineno);
		return -1;
	}
	if (vault_class_parse(rest, &c) != 0) {
		str_error(err, errlen,
		          "%s:%u: unknown class \"%.40s\" (Ordonnances, Biologie, Imagerie, "
		          "Comptes-rendus, Hospitalisation, Vaccinations or Autres)",
		          path, lineno, rest);
		return -1;
	}
	extra_add(line, c);
	return 0;
}

int vault_classes_load(const char *path, char *err, size_t errlen)
{
	char line[512];
	unsigned lineno = 0;
	int rc = 0;

	extra_clear();
	if (!path || !path[0])
		return 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		rc = parse_line(line, path, lineno, err, errlen);
	}
	fclose(f);
	if (rc != 0)
		extra_clear();
	return rc;
}

int vault_classify_code(const char *code, enum vault_class *out)
{
	if (!code || !code[0])
		return -1;
	for (size_t i = 0; i < extra.n; i++) {
		if (str_ieq(extra.code[i], code)) {
			*out = extra.cls[i];
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
		if (strcmp(builtin[i].code, code) == 0) {
			*out = builtin[i].cls;
			return 0;
		}
	}
	return -1;
}

int vault_classify_code_list(const char *list, enum vault_class *out)
{
	char code[64];
	const char *p = list;
	while (p && *p) {
		p += strspn(p, " \t,;");
		size_t n = strcspn(p, " \t,;");
		if (n > 0 && n < sizeof code) {
			memcpy(code, p, n);
			code[n] = '\0';
			/* "11502-2^2.16.840.1.113883.6.1" or "LOINC:11502-2" forms: keep the code */
			code[strcspn(code, "^")] = '\0';
			char *colon = strrchr(code, ':');
			if (vault_classify_code(colon ? colon + 1 : code, out) == 0)
				return 0;
		}
		p += n;
	}
	return -1;
}

struct keyword {
	const char *stem;
	bool whole_word; /* short stems match only a whole word ("irm", not "confirmation") */
	enum vault_class cls;
};

/* Order matters: "lettre de sortie" is a hospital letter before being a letter. */
static const struct keyword keywords[] = {
    {"vaccin", false, VAULT_VACCINATIONS},
    {"immunis", false, VAULT_VACCINATIONS},
    {"ordonnance", false, VAULT_ORDONNANCES},
    {"prescription", false, VAULT_ORDONNANCES},
    {"hospitalisation", false, VAULT_HOSPITALISATION},
    {"sortie", true, VAULT_HOSPITALISATION},
    {"discharge", false, VAULT_HOSPITALISATION},
    {"biolog", false, VAULT_BIOLOGIE},
    {"laboratoire", false, VAULT_BIOLOGIE},
    {"analyses", true, VAULT_BIOLOGIE},
    {"bilan sanguin", false, VAULT_BIOLOGIE},
    {"labo", true, VAULT_BIOLOGIE},
    {"radio", false, VAULT_IMAGERIE},
    {"imagerie", false, VAULT_IMAGERIE},
    {"chograph", false, VAULT_IMAGERIE}, /* echographie, échographie */
    {"scanner", false, VAULT_IMAGERIE},
    {"mammograph", false, VAULT_IMAGERIE},
    {"irm", true, VAULT_IMAGERIE},
    {"tdm", true, VAULT_IMAGERIE},
    {"compte-rendu", false, VAULT_COMPTES_RENDUS},
    {"compte rendu", false, VAULT_COMPTES_RENDUS},
    {"comptes-rendus", false, VAULT_COMPTES_RENDUS},
    {"consultation", false, VAULT_COMPTES_RENDUS},
    {"courrier", false, VAULT_COMPTES_RENDUS},
    {"lettre", false, VAULT_COMPTES_RENDUS},
    {"synth", false, VAULT_COMPTES_RENDUS},
    {"cr", true, VAULT_COMPTES_RENDUS},
};

static bool is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static bool has_stem(const char *text, const struct keyword *k)
{
	size_t sl = strlen(k->stem);
	for (const char *p = strstr(text, k->stem); p; p = strstr(p + 1, k->stem)) {
		if (!k->whole_word)
			return true;
		bool start = p == text || !is_word_char((unsigned char)p[-1]);
		bool end = !is_word_char((unsigned char)p[sl]);
		if (start && end)
			return true;
	}
	return false;
}

static int guess_text(const char *s, enum vault_class *out)
{
	char low[1024];
	if (!s || !s[0])
		return -1;
	if (str_copy(low, sizeof low, s) < 0)
		return -1; /* longer than any label: no hint, rather than a guess on its start */
	str_lower(low);
	for (char *p = low; *p; p++)
		if (*p == '_' || *p == '.')
			*p = ' ';
	for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
		if (has_stem(low, &keywords[i])) {
			*out = keywords[i].cls;
			return 0;
		}
	}
	return -1;
}

enum vault_class vault_classify_guess(const char *mime, const char *filename, const char *subject)
{
	enum vault_class c;
	/* The file's own name speaks for it first, then its type; the subject covers
	 * the whole message and comes last. */
	if (guess_text(filename, &c) == 0)
		return c;
	if (mime && (str_iprefix(mime, "image/") || str_ieq(mime, "application/dicom")))
		return VAULT_IMAGERIE;
	if (guess_text(subject, &c) == 0)
		return c;
	return VAULT_AUTRES;
}

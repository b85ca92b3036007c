/* vault_profile.c: the profile's sections and the reading of what the patient typed
 * (vault_profile.h). */
#include "vault/vault_profile.h"

#include <string.h>

#include "lib/str.h"

static const struct vault_profile_section sections[] = {
    {"allergies", "Allergies", "AllergyIntolerance",
     "Une allergie par ligne, avec ce qu'elle provoque (ex. : Pénicilline – urticaire)."},
    {"antecedents", "Antécédents médicaux", "Condition",
     "Une maladie, opération ou hospitalisation par ligne, avec l'année (ex. : Appendicectomie 2015)."},
    {"familiaux", "Antécédents familiaux", "FamilyMemberHistory",
     "Une ligne par maladie d'un proche, avec son lien (ex. : Père – diabète de type 2)."},
    {"traitements", "Traitements en cours", "MedicationStatement",
     "Un médicament par ligne, avec la dose (ex. : Metformine 500 mg, matin et soir)."},
    {"contacts", "Contacts d'urgence", "RelatedPerson",
     "Une personne par ligne : nom ; téléphone ; lien (ex. : Marie Dupont ; 06 12 34 56 78 ; épouse)."},
};

const struct vault_profile_section *vault_profile_sections(size_t *n)
{
	*n = sizeof(sections) / sizeof(sections[0]);
	return sections;
}

/* Compares name with s ignoring ASCII case and the blanks around name. */
static bool same_name(const char *name, const char *s)
{
	size_t len;

	name += strspn(name, " \t");
	len = strlen(name);
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	return len == strlen(s) && str_ieqn(name, s, len);
}

const struct vault_profile_section *vault_profile_section(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (same_name(name, sections[i].code) || same_name(name, sections[i].label))
			return &sections[i];
	return NULL;
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* "06 12 34 56 78", "+33 6 12 34 56 78": 6 to 20 digits, separators allowed. */
static bool phone_ok(const char *p, size_t n)
{
	size_t digits = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			digits++;
		else if (!(p[i] == ' ' || p[i] == '.' || p[i] == '-' || (p[i] == '+' && digits == 0)))
			return false;
	}
	return digits >= 6 && digits <= 20;
}

/* The part of s before the next ';' (trimmed) as [*start, *len); moves s past it. */
static void next_field(const char **s, const char **start, size_t *len)
{
	const char *p = *s, *end = strchr(p, ';');
	size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*start = p;
	*len = n;
	*s = end != NULL ? end + 1 : p + n + strlen(p + n);
}

static int contact_ok(const char *item, char *why, size_t whylen, size_t line)
{
	const char *s = item, *name, *phone;
	size_t nname, nphone;

	next_field(&s, &name, &nname);
	next_field(&s, &phone, &nphone);
	if (nname == 0 || !phone_ok(phone, nphone)) {
		if (str_format(why, whylen,
		               "Ligne %zu : indiquez le nom puis le numéro de téléphone, séparés par « ; » "
		               "(ex. : Marie Dupont ; 06 12 34 56 78 ; épouse).",
		               line) < 0)
			return -1;
		return -1;
	}
	return 0;
}

/* One line, trimmed, its bullet dropped, into out. Returns 0 (0 or 1 item), -1 with why. */
static int one_line(const struct vault_profile_section *sec, const char *p, size_t n, size_t line,
                    struct vault_profile_items *out, char *why, size_t whylen)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	if (n >= 2 && (p[0] == '-' || p[0] == '*') && p[1] == ' ')
		p += 2, n -= 2;
	else if (n >= 4 && memcmp(p, "\xe2\x80\xa2 ", 4) == 0) /* "• " */
		p += 4, n -= 4;
	while (n > 0 && *p == ' ')
		p++, n--;
	if (n == 0)
		return 0;
	if (has_control(p, n)) {
		if (str_format(why, whylen, "Ligne %zu : caractère de contrôle refusé.", line) < 0)
			return -1;
		return -1;
	}
	if (utf8_chars(p, n) > VAULT_PROFILE_ITEM_CHARS || n >= VAULT_PROFILE_ITEM_MAX) {
		if (str_format(why, whylen, "Ligne %zu : trop longue (au plus %d caractères).", line,
		               VAULT_PROFILE_ITEM_CHARS) < 0)
			return -1;
		return -1;
	}
	if (out->n == VAULT_PROFILE_ITEMS_MAX) {
		if (str_format(why, whylen, "Trop de lignes : au plus %d par rubrique.",
		               VAULT_PROFILE_ITEMS_MAX) < 0)
			return -1;
		return -1;
	}
	memcpy(out->item[out->n], p, n);
	out->item[out->n][n] = '\0';
	if (strcmp(sec->code, "contacts") == 0 && contact_ok(out->item[out->n], why, whylen, line) < 0)
		return -1;
	out->n++;
	return 0;
}

int vault_profile_parse(const struct vault_profile_section *sec, const char *text,
                        struct vault_profile_items *out, char *why, size_t whylen)
{
	size_t line = 0;

	memset(out, 0, sizeof(*out));
	if (!str_is_utf8(text, strlen(text))) {
		if (str_copy(why, whylen, "Le texte n'est pas en UTF-8 valide.") < 0)
			return -1;
		return -1;
	}
	for (const char *p = text; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		line++;
		if ((n == 3 && memcmp(p, "-- ", 3) == 0) || (n == 4 && memcmp(p, "-- \r", 4) == 0))
			break; /* a mail client's signature follows (RFC 3676 4.3) */
		if (one_line(sec, p, n, line, out, why, whylen) < 0)
			return -1;
		p = end != NULL ? end + 1 : p + n;
	}
	return 0;
}

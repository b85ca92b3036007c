/* vault_history_text.c: what a patient reads of one history entry (see
 * vault_history.h): one French label per event kind, in the right direction (a message
 * the patient sent is "envoyé", one sent to them "reçu"), people by the name the
 * accounts or the directory give them (an address only as a fallback, never a
 * certificate DN when the sender's address is known), reasons in French, never a raw
 * code. */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/localtime.h"
#include "lib/str.h"
#include "vault/vault_history.h"
#include "vault/vault_people.h"

enum dir { ANY, IN, OUT };

static const struct label {
	const char *action;
	enum dir dir;
	const char *ok;      /* when the result is ok */
	const char *refused; /* otherwise */
} labels[] = {
    {"smtp.deliver", IN, "Message reçu", "Message non reçu"},
    {"smtp.deliver", OUT, "Message envoyé", "Message non envoyé"},
    {"smtp.rcpt", IN, "Message reçu", "Message refusé"},
    {"smtp.rcpt", OUT, "Message envoyé", "Envoi refusé"},
    {"contact.open", ANY, "Échange ouvert", "Échange ouvert"},
    {"contact.close", ANY, "Échange clos", "Échange clos"},
    {"vault.file", ANY, "Document classé", "Document non classé"},
    {"vault.ko", ANY, "Erreur d'intégration signalée à l'expéditeur", "Erreur d'intégration non signalée"},
    {"vault.notify", ANY, "Notification envoyée", "Notification non envoyée"},
    {"vault.open", ANY, "Coffre-fort consulté", "Consultation refusée"},
    {"vault.read", ANY, "Document consulté", "Consultation refusée"},
    {"vault.search", ANY, "Recherche dans vos documents", "Recherche refusée"},
    {"vault.refused", ANY, "Tentative d'accès refusée", "Tentative d'accès refusée"},
    {"vault.mask", ANY, "Document masqué aux professionnels", "Masquage refusé"},
    {"vault.unmask", ANY, "Document de nouveau visible des professionnels", "Démasquage refusé"},
    {"vault.delete", ANY, "Document supprimé", "Suppression refusée"},
    {"access.grant", ANY, "Accès au coffre-fort accordé", "Accès non accordé"},
    {"access.revoke", ANY, "Accès au coffre-fort retiré", "Retrait refusé"},
    {"access.block", ANY, "Professionnel bloqué", "Blocage refusé"},
    {"access.unblock", ANY, "Professionnel débloqué", "Déblocage refusé"},
    {"vital.add", ANY, "Constante enregistrée", "Constante non enregistrée"},
    {"profile.update", ANY, "Profil médical modifié", "Profil médical non modifié"},
    {"vaccination.add", ANY, "Carnet de vaccination mis à jour", "Carnet de vaccination non modifié"},
    {"settings.notify", ANY, "Réglages des notifications modifiés",
     "Réglages des notifications non modifiés"},
    {"account.password", ANY, "Mot de passe changé", "Mot de passe non changé"},
};

/* Why a message was refused at RCPT (the policy's reason words, policy_rules.c). */
static const struct {
	const char *word, *text;
} rcpt_reasons[] = {
    {"blocked", "vous avez bloqué cet expéditeur"},
    {"not-approved", "cet expéditeur n'est pas un professionnel de santé reconnu"},
    {"directory-inactive", "cet expéditeur n'est plus actif dans l'annuaire des professionnels"},
    {"sender-unproven", "l'expéditeur n'a pas prouvé son identité"},
    {"patient-to-patient", "un patient ne peut pas écrire à un autre patient"},
    {"no-contact", "ce professionnel ne vous a pas encore écrit : vous pourrez lui répondre"},
    {"exchange-closed", "ce professionnel a clos l'échange"},
    {"outside-trust-space", "ce destinataire est hors de la messagerie de santé"},
    {"relay-unsupported", "l'envoi vers un autre service de messagerie n'est pas encore possible"},
    {"relay-denied", "ce destinataire n'est pas servi ici"},
    {"no-mailbox", "adresse inconnue"},
};

/* Why a document was not filed (the service's integration codes). */
static const char *code_text(int code)
{
	switch (code) {
	case 900:
		return "version incorrecte pour un remplacement";
	case 901:
		return "seul l'auteur du document peut le remplacer";
	case 902:
		return "votre adresse n'est pas rattachée à un identifiant national de santé";
	case 903:
		return "le document ne porte pas d'identifiant national de santé";
	case 904:
		return "le document concerne un autre patient";
	case 905:
		return "l'identité du patient dans le document est incomplète";
	default:
		return "le document n'a pas pu être vérifié";
	}
}

static bool outgoing(const struct vault_history_entry *e)
{
	return str_ieq(e->who, e->patient);
}

const char *vault_history_label(const char *action, bool out, bool ok)
{
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		const struct label *l = &labels[i];
		if (strcmp(l->action, action) == 0 && (l->dir == ANY || (l->dir == OUT) == out))
			return ok ? l->ok : l->refused;
	}
	return ok ? "Événement enregistré" : "Opération refusée";
}

/* The value of key=... in an audit detail ("from=a@b reason=blocked"), "" when absent. */
static void detail_value(const char *detail, const char *key, char *out, size_t outlen)
{
	size_t n = strlen(key);
	out[0] = '\0';
	for (const char *p = detail; *p != '\0'; p += strspn(p, " ")) {
		size_t word = strcspn(p, " ");
		if (word > n && strncmp(p, key, n) == 0 && p[n] == '=') {
			if (word - n - 1 < outlen) {
				memcpy(out, p + n + 1, word - n - 1);
				out[word - n - 1] = '\0';
			}
			return;
		}
		p += word;
	}
}

/* reason() writes only the constant texts of this file, all under 100 bytes, into the
 * caller's 300 bytes. */
#define FITS_REASON "a constant text under 100 bytes into 300"

static void reason(const struct vault_history_entry *e, char *out, size_t outlen)
{
	char word[64];
	const char *r = e->result;
	if (strcmp(r, "ok") == 0) {
		str_assert(str_copy(out, outlen, "effectué"), FITS_REASON);
		return;
	}
	if (strncmp(r, "error", 5) == 0) {
		str_assert(str_copy(out, outlen, "échec : erreur du service"), FITS_REASON);
		return;
	}
	if (strcmp(e->action, "smtp.rcpt") == 0) {
		detail_value(e->detail, "reason", word, sizeof word);
		for (size_t i = 0; i < sizeof rcpt_reasons / sizeof rcpt_reasons[0]; i++)
			if (strcmp(word, rcpt_reasons[i].word) == 0) {
				str_assert(str_format(out, outlen, "refusé : %s", rcpt_reasons[i].text),
				           FITS_REASON);
				return;
			}
	} else if (strcmp(e->action, "vault.file") == 0 && strncmp(r, "refused: ", 9) == 0) {
		str_assert(str_format(out, outlen, "refusé : %s", code_text(atoi(r + 9))), FITS_REASON);
		return;
	} else if (strcmp(e->action, "vault.refused") == 0) {
		str_assert(
		    str_copy(
		        out, outlen,
		        strstr(r, "no grant")
		            ? "refusé : vous n'avez pas donné accès à vos documents à cette personne"
		            : "refusé : vos documents ne peuvent pas être modifiés par un professionnel"),
		    FITS_REASON);
		return;
	} else if (strcmp(e->action, "vault.ko") == 0) {
		str_assert(
		    str_copy(out, outlen, "non envoyée : l'expéditeur n'a pas de boîte aux lettres ici"),
		    FITS_REASON);
		return;
	}
	str_assert(str_copy(out, outlen, "refusé"), FITS_REASON);
}

/* A person as the patient knows them. */
static void person(struct store *st, const struct vault_history_entry *e, const char *who, char *out,
                   size_t outlen)
{
	const char *text = who[0] && strcmp(who, "anonymous") != 0 ? who : "un expéditeur inconnu";
	if (str_ieq(who, e->patient))
		text = "vous";
	else if (strcmp(who, "mss") == 0)
		text = "le service de messagerie";
	else if (strcmp(who, "mssctl") == 0)
		text = "l'administrateur du service";
	else if (strchr(who, '@')) {
		vault_person_display(st, who, out, outlen);
		return;
	}
	/* who is an entry's field (512 bytes at most), out 600 bytes */
	str_assert(str_copy(out, outlen, text), "a 512-byte field or a constant into 600");
}

/* Who did it: for a message, its sender's address (an operator's certificate DN is the
 * machine, not the doctor); for a report, whom it went to; else the actor. */
static void actor(struct store *st, const struct vault_history_entry *e, char *out, size_t outlen)
{
	char from[256];
	if (strncmp(e->action, "smtp.", 5) == 0 && !outgoing(e)) {
		detail_value(e->detail, "from", from, sizeof from);
		person(st, e, strchr(from, '@') ? from : e->who, out, outlen);
	} else if (strcmp(e->action, "vault.ko") == 0 || strncmp(e->action, "contact.", 8) == 0) {
		person(st, e, e->document, out, outlen);
	} else {
		person(st, e, e->who, out, outlen);
	}
}

/* "Documents/Biologie UID 3" -> "Documents/Biologie, document n° 3". */
static void document(const char *target, char *out, size_t outlen)
{
	const char *uid = strstr(target, " UID ");
	const char *sp = strrchr(target, ' ');
	int rc;
	if (uid)
		rc = str_format(out, outlen, "%.*s, document n° %s", (int)(uid - target), target, uid + 5);
	else if (sp && strspn(sp + 1, "0123456789") == strlen(sp + 1) && sp[1])
		rc = str_format(out, outlen, "%.*s, document n° %s", (int)(sp - target), target, sp + 1);
	else
		rc = str_copy(out, outlen, target);
	str_assert(rc, "a 512-byte target and 16 bytes into 600");
}

/* The second line: the other party, or the document concerned. */
static int object(struct store *st, const struct vault_history_entry *e, struct buf *b)
{
	char who[600], doc[600];
	if (strncmp(e->action, "smtp.", 5) == 0) {
		if (outgoing(e)) {
			person(st, e, e->document, who, sizeof who);
			return buf_printf(b, "À : %s\r\n", who);
		}
	} else if (strncmp(e->action, "access.", 7) == 0) {
		person(st, e, e->document, who, sizeof who);
		return buf_printf(b, "Professionnel : %s\r\n", who);
	} else if (strncmp(e->action, "vault.", 6) == 0 && strcmp(e->action, "vault.ko") != 0 &&
	           strcmp(e->action, "vault.notify") != 0 && e->document[0]) {
		document(e->document, doc, sizeof doc);
		return buf_printf(b, "Document : %s\r\n", doc);
	}
	return 0;
}

int vault_history_text(struct store *st, const char *zone, const struct vault_history_entry *e,
                       struct vault_history_text *out)
{
	char who[600], when[64], why[300];
	struct buf b;
	bool ok = strcmp(e->result, "ok") == 0;
	const char *what = vault_history_label(e->action, outgoing(e), ok);
	actor(st, e, who, sizeof who);
	mss_date_french(zone, e->time, true, when, sizeof when);
	reason(e, why, sizeof why);
	if (str_format(out->subject, sizeof out->subject, "%s : %s", what, who) < 0)
		return -1;
	buf_init(&b, sizeof out->body - 1);
	int rc = buf_printf(&b, "Quand : %s\r\nQui : %s\r\nQuoi : %s\r\n", when, who, what);
	rc |= object(st, e, &b);
	rc |= buf_printf(&b, "Résultat : %s\r\n", why);
	rc |= str_copy(out->body, sizeof out->body, b.data ? b.data : "");
	buf_free(&b);
	return rc == 0 ? 0 : -1;
}

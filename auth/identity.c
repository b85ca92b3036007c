/* identity.c: the sender identity rules (see identity.h). */
#include "auth/identity.h"

#include <sodium.h>
#include <string.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "directory/trust.h"
#include "auth/sender_rows.h"
#include "lib/str.h"

/* What one address is, for the sender that uses it. */
enum verdict {
	V_OK = 0,
	V_NOT_YOURS,  /* another address than the identity proven */
	V_LOCAL,      /* an operator or SPF relay using a domain served here */
	V_NOT_LISTED, /* an operator using a domain the trust list does not give it */
	V_INACTIVE,   /* a directory entry the administrator made inactive */
	V_ERROR,      /* database error */
};

static const char *const verdict_reason[] = {
    [V_OK] = "own-address",
    [V_NOT_YOURS] = "address-not-theirs",
    [V_LOCAL] = "address-not-theirs",
    [V_NOT_LISTED] = "operator-not-listed",
    [V_INACTIVE] = "directory-inactive",
    [V_ERROR] = "error",
};

static bool local_account(enum sender_auth a)
{
	return a == SENDER_PASSWORD || a == SENDER_CERTIFICATE || a == SENDER_TOKEN;
}

/* The rule an address broke, as the client reads it after "MAIL FROM " or "header From ". */
static const char *rule_text(enum sender_auth a, enum verdict v)
{
	if (v == V_INACTIVE)
		return "names a directory entry that is not active: it cannot send";
	if (v == V_LOCAL)
		return a == SENDER_OPERATOR
		           ? "is served here, not by your operator"
		           : "is served here: an establishment relay never sends as this server's "
		             "accounts";
	if (v == V_NOT_LISTED)
		return "is in a domain the trust list does not give your certificate";
	if (a == SENDER_RELAY_CERT)
		return "must be your establishment's own address (your certificate's)";
	if (a == SENDER_RELAY_SPF)
		return "must be in the domain SPF vouched for";
	return "must be the address you authenticated as";
}

static int refuse(struct mss_status *out, int code, const char *enh, const char *what, const char *rule)
{
	out->code = code;
	str_assert(str_copy(out->enhanced, sizeof(out->enhanced), enh), "enhanced codes are constants");
	if (str_format(out->text, sizeof(out->text), "%s %s", what, rule) < 0) /* never: short texts */
		str_assert(str_copy(out->text, sizeof(out->text), "sender refused"), "a short constant");
	return code >= 500 ? 1 : -1;
}

static int accept(struct mss_status *out)
{
	memset(out, 0, sizeof(*out));
	return 0;
}

static int temp_failure(struct mss_status *out, const char **why)
{
	*why = "error";
	return refuse(out, 451, "4.3.0", "temporary failure,", "try again later");
}

/* An address whose national directory entry is inactive cannot send. */
static enum verdict directory_state(struct store *st, const struct policy_sender *s, const char *addr)
{
	struct dir_entry e;
	int r = sender_dir_entry(st, s, addr, &e);

	if (r < 0)
		return V_ERROR;
	return r == 1 && !e.active ? V_INACTIVE : V_OK;
}

int identity_operator_listed(struct store *st, const struct policy_sender *s, const char *domain)
{
	if (s->listed_domain[0] && str_ieq(domain, s->listed_domain))
		return 1;
	return trust_is_listed(st, domain, s->tls_subject_dn);
}

/* The domain part, for operators and SPF relays: listed for its DN, not served here. */
static enum verdict domain_verdict(struct store *st, const struct mss_config *cfg,
                                   const struct policy_sender *s, const char *addr)
{
	const char *dom = str_address_domain(addr);
	int r;

	if (config_is_local_domain(cfg, dom))
		return V_LOCAL;
	if (s->auth == SENDER_RELAY_SPF)
		return s->spf_domain[0] && str_ieq(dom, s->spf_domain) ? V_OK : V_NOT_YOURS;
	r = identity_operator_listed(st, s, dom);
	return r < 0 ? V_ERROR : r == 1 ? V_OK : V_NOT_LISTED;
}

/* May s use addr as its own (in MAIL FROM, From or Sender)? */
static enum verdict address_verdict(struct store *st, const struct mss_config *cfg,
                                    const struct policy_sender *s, const char *addr)
{
	enum verdict v;

	if (local_account(s->auth) || s->auth == SENDER_RELAY_CERT)
		v = s->account[0] && str_ieq(addr, s->account) ? V_OK : V_NOT_YOURS;
	else if (s->auth == SENDER_OPERATOR || s->auth == SENDER_RELAY_SPF)
		v = domain_verdict(st, cfg, s, addr);
	else
		v = V_NOT_YOURS;
	return v == V_OK ? directory_state(st, s, addr) : v;
}

/* A local sender's account, or a relay's organisation account: disabled, or its
 * directory entry made inactive, since the login, it sends nothing more. */
static int sender_state(struct store *st, const struct policy_sender *s, struct mss_status *out,
                        const char **why)
{
	struct account a;
	int r;

	if (!local_account(s->auth) && s->auth != SENDER_RELAY_CERT)
		return 0;
	r = sender_account(st, s, s->account, &a);
	if (r < 0)
		return temp_failure(out, why);
	if (r == 0 || a.disabled) {
		*why = "account-disabled";
		return refuse(out, 550, "5.7.1", "your account", "is disabled: it cannot send");
	}
	if (s->by_password &&
	    sodium_memcmp(a.password_stamp, s->password_stamp, sizeof(a.password_stamp)) != 0) {
		*why = "password-changed";
		return refuse(out, 550, "5.7.1", "your password",
		              "was changed since this login: log in again");
	}
	if (s->by_cert && sodium_memcmp(a.cert_stamp, s->cert_stamp, sizeof(a.cert_stamp)) != 0) {
		*why = "certificate-changed";
		return refuse(out, 550, "5.7.1", "your account's certificate",
		              "was changed since this login: log in again");
	}
	switch (directory_state(st, s, s->account)) {
	case V_ERROR:
		return temp_failure(out, why);
	case V_INACTIVE:
		*why = "directory-inactive";
		return refuse(out, 550, "5.7.1", "your directory entry", "is not active: it cannot send");
	default:
		return 0;
	}
}

static int unproven(const struct policy_sender *s, struct mss_status *out, const char **why)
{
	if (s->auth == SENDER_ANONYMOUS && strcmp(s->listener, "smtp") == 0) {
		*why = "sender-unproven";
		return refuse(out, 550, "5.7.1",
		              "sender not authenticated:", "only the health trust space may write here");
	}
	*why = "not-authenticated";
	return refuse(out, 530, "5.7.0", "authentication", "required");
}

/* <> is allowed: bounces and read receipts (MDN) are sent with a null sender; an
 * operator's must still come from a DN the trust list knows. */
static int null_sender(struct store *st, const struct policy_sender *s, struct mss_status *out,
                       const char **why)
{
	int r = s->auth == SENDER_OPERATOR ? trust_dn_known(st, s->tls_subject_dn) : 1;

	if (r < 0)
		return temp_failure(out, why);
	if (r == 0) {
		*why = "operator-not-listed";
		return refuse(out, 550, "5.7.1", "your certificate", "is not on the trust list");
	}
	*why = "null-sender";
	return accept(out);
}

int identity_check_mail(struct store *st, const struct mss_config *cfg, struct policy_sender *s,
                        const char *mail_from, struct mss_status *out, const char **why)
{
	bool account_kind = local_account(s->auth) || s->auth == SENDER_RELAY_CERT;
	enum verdict v;
	int r;

	if (s->auth == SENDER_ANONYMOUS || (account_kind && !s->account[0]))
		return unproven(s, out, why);
	r = sender_state(st, s, out, why);
	if (r != 0)
		return r;
	if (mail_from[0] == '\0')
		return null_sender(st, s, out, why);
	v = address_verdict(st, cfg, s, mail_from);
	if (v == V_ERROR)
		return temp_failure(out, why);
	*why = verdict_reason[v];
	if (v != V_OK)
		return refuse(out, 550, "5.7.1", "MAIL FROM", rule_text(s->auth, v));
	*why = s->auth == SENDER_OPERATOR ? "operator-listed"
	       : local_account(s->auth)   ? "own-address"
	                                  : "relay";
	if (s->auth == SENDER_OPERATOR) /* what RCPT and the header will ask again */
		str_assert(str_copy(s->listed_domain, sizeof s->listed_domain, str_address_domain(mail_from)),
		           "a domain of a 256-byte address into 256 bytes");
	return accept(out);
}

/* Octets that end an address-like token in a display name. */
static bool token_end(char c)
{
	return c == '\0' || strchr(" \t<>()[]\"',;:", c) != NULL;
}

/* Does name hold an address-like token (text@text) other than addr? Only the
 * tokens around each '@' are looked at, so "Laboratoire @ CHU" names none. */
static bool name_shows_other(const char *name, const char *addr)
{
	for (const char *at = strchr(name, '@'); at != NULL; at = strchr(at + 1, '@')) {
		const char *b = at, *e = at + 1;

		while (b > name && !token_end(b[-1]))
			b--;
		while (!token_end(*e))
			e++;
		if (b == at || e == at + 1)
			continue;
		if ((size_t)(e - b) != strlen(addr) || !str_ieqn(b, addr, (size_t)(e - b)))
			return true;
	}
	return false;
}

/* Does text hold an address-like token that is none of addr[0, n)? */
static bool text_shows_other(const char *text, const char *const *addr, size_t n)
{
	for (const char *at = strchr(text, '@'); at != NULL; at = strchr(at + 1, '@')) {
		const char *b = at, *e = at + 1;
		bool own = false;

		while (b > text && !token_end(b[-1]))
			b--;
		while (!token_end(*e))
			e++;
		if (b == at || e == at + 1)
			continue;
		for (size_t i = 0; i < n && !own; i++)
			own = (size_t)(e - b) == strlen(addr[i]) && str_ieqn(b, addr[i], (size_t)(e - b));
		if (!own)
			return true;
	}
	return false;
}

static int check_list(struct store *st, const struct mss_config *cfg, const struct policy_sender *s,
                      const char *const *addr, const char *const *names, const char *text, size_t n,
                      const char *what, struct mss_status *out, const char **why)
{
	for (size_t i = 0; i < n; i++) {
		enum verdict v = address_verdict(st, cfg, s, addr[i]);

		if (v == V_ERROR)
			return temp_failure(out, why);
		if (v != V_OK) {
			*why = v == V_INACTIVE ? "header-directory-inactive" : "header-not-theirs";
			return refuse(out, 550, "5.7.1", what, rule_text(s->auth, v));
		}
		if (names != NULL && names[i] != NULL && name_shows_other(names[i], addr[i])) {
			*why = "header-name-not-theirs";
			return refuse(out, 550, "5.7.1", what,
			              "display name names another address than the sender's");
		}
	}
	if (text != NULL && text_shows_other(text, addr, n)) {
		*why = "header-name-not-theirs";
		return refuse(out, 550, "5.7.1", what,
		              "display name names another address than the sender's");
	}
	return 0;
}

int identity_check_header(struct store *st, const struct mss_config *cfg, const struct policy_sender *s,
                          const char *mail_from, const struct identity_header *h, struct mss_status *out,
                          const char **why)
{
	int r;

	(void)mail_from;
	/* A field the reader could not parse may still be shown by a mail client. */
	if (h->unreadable) {
		*why = "header-unreadable";
		return refuse(out, 550, "5.7.1", "header From or Sender", "cannot be read as addresses");
	}
	r = check_list(st, cfg, s, h->from, h->from_names, h->from_text, h->nfrom, "header From", out, why);
	if (r == 0)
		r = check_list(st, cfg, s, h->sender, h->sender_names, h->sender_text, h->nsender,
		               "header Sender", out, why);
	if (r != 0)
		return r;
	*why = "header-own";
	return accept(out);
}

bool identity_may_close(const struct policy_sender *s, const char *header_from, const char *contact)
{
	if (contact[0] == '\0' || !str_ieq(contact, header_from))
		return false;
	/* The header was checked against the sender's identity at the end of DATA; for a
	 * local sender, check again here that it is the account itself. */
	if (local_account(s->auth) || s->auth == SENDER_RELAY_CERT)
		return str_ieq(contact, s->account);
	return s->auth == SENDER_OPERATOR || s->auth == SENDER_RELAY_SPF;
}

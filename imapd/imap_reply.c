/* imap_reply.c: the reply table (see imap_reply.h). */

#include "imapd/imap_reply.h"

#include <string.h>

#include "lib/str.h"
#include "vault/vault.h"
#include "vault/vault_history.h"

#define R_OK(c, t)                                                                                           \
	{                                                                                                    \
		IMAP_OK, c, t                                                                                \
	}
#define R_NO(c, t)                                                                                           \
	{                                                                                                    \
		IMAP_NO, c, t                                                                                \
	}
#define R_BAD(c, t)                                                                                          \
	{                                                                                                    \
		IMAP_BAD, c, t                                                                               \
	}

static const struct imap_reply replies[IMAP_R_COUNT] = {
    [IMAP_R_DONE] = R_OK(NULL, "%s completed"),
    [IMAP_R_DONE_NOUPDATE] = R_OK("NOUPDATE", "%s completed"),
    [IMAP_R_SELECTED_RW] = R_OK("READ-WRITE", "%s completed"),
    [IMAP_R_SELECTED_RO] = R_OK("READ-ONLY", "%s completed"),
    [IMAP_R_LOGGED_IN] = R_OK("CAPABILITY", "Logged in"),
    [IMAP_R_STARTTLS_GO] = R_OK(NULL, "Begin TLS negotiation now"),
    [IMAP_R_ENABLED] = R_OK(NULL, "Enabled"),
    [IMAP_R_DEFLATE_ON] = R_OK(NULL, "DEFLATE active"),
    [IMAP_R_APPENDUID] = R_OK("APPENDUID", "Append completed"),
    [IMAP_R_APPENDUID_PROFILE] = R_OK("APPENDUID", "Append completed: %s, version %s"),
    [IMAP_R_COPYUID] = R_OK("COPYUID", "Copy completed"),
    [IMAP_R_COPYUID_PROFILE] = R_OK("COPYUID", "Copy completed: %s, version %s"),
    [IMAP_R_MODIFIED] = R_OK("MODIFIED", "Conditional STORE failed"),
    [IMAP_R_NOTIFY_DONE] = R_OK(NULL, "NOTIFY completed"),

    [IMAP_R_SERVERBUG] = R_NO("SERVERBUG", "Internal error, try again later"),
    [IMAP_R_SERVERBUG_READ] = R_NO("SERVERBUG", "Some messages could not be read"),
    [IMAP_R_SERVERBUG_FAILED] = R_NO("SERVERBUG", "%s failed"),
    [IMAP_R_UNAVAILABLE] = R_NO("UNAVAILABLE", "Temporary failure, try again later"),
    [IMAP_R_NONEXISTENT] = R_NO("NONEXISTENT", "Mailbox does not exist"),
    [IMAP_R_NONEXISTENT_WHY] = R_NO("NONEXISTENT", "%s"),
    [IMAP_R_NO_QUOTA_ROOT] = R_NO("NONEXISTENT", "No such quota root"),
    [IMAP_R_TRYCREATE] = R_NO("TRYCREATE", "Mailbox does not exist"),
    [IMAP_R_NOPERM] = R_NO("NOPERM", "Permission denied"),
    [IMAP_R_NOPERM_HISTORY] = R_NO("NOPERM", VAULT_HISTORY_MAILBOX " is read-only"),
    [IMAP_R_NOPERM_HISTORY_SEEN] = R_NO("NOPERM", "Only \\Seen can change in " VAULT_HISTORY_MAILBOX),
    [IMAP_R_NOPERM_SUPERSEDED] = R_NO("NOPERM", VAULT_SUPERSEDED_KEYWORD " is set by the vault only"),
    [IMAP_R_NOPERM_DOCUMENTS] = R_NO("NOPERM", "Only documents sent to you are filed in Documents"),
    [IMAP_R_NOPERM_BOOK] =
        R_NO("NOPERM", "The vaccination book is written by the service: declare a vaccination "
                       "on the web page"),
    [IMAP_R_NOPERM_QUOTA] = R_NO("NOPERM", "Quotas are set by the administrator (quota_storage)"),
    [IMAP_R_READONLY] = R_NO("READ-ONLY", "Mailbox is read-only"),
    [IMAP_R_CANNOT] = R_NO("CANNOT", "%s"),
    [IMAP_R_CANNOT_SHARE] = R_NO("CANNOT", "Only read access (lr) can be shared"),
    [IMAP_R_CANNOT_NAME] = R_NO("CANNOT", "Invalid mailbox name"),
    [IMAP_R_ALREADYEXISTS] = R_NO("ALREADYEXISTS", "Mailbox already exists"),
    [IMAP_R_ALREADYEXISTS_INBOX] = R_NO("ALREADYEXISTS", "INBOX always exists"),
    [IMAP_R_BADCHARSET] = R_NO("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset"),
    [IMAP_R_OVERQUOTA] = R_NO("OVERQUOTA", "Quota exceeded (quota_storage)"),
    [IMAP_R_TOOBIG_MESSAGE] = R_NO("TOOBIG", "Message too large"),
    [IMAP_R_TOOBIG_MESSAGE_BAD] = R_BAD("TOOBIG", "Message too large"),
    [IMAP_R_TOOBIG_LITERAL] = R_NO("TOOBIG", "Command or literal too large"),
    [IMAP_R_TOOBIG_LITERAL_BAD] = R_BAD("TOOBIG", "Command or literal too large"),
    [IMAP_R_TOOBIG_LINE] = R_BAD("TOOBIG", "Command line too long"),
    [IMAP_R_TOOBIG_COMMAND] = R_BAD("TOOBIG", "Command too long"),
    [IMAP_R_EMPTY_MESSAGE] = R_NO(NULL, "Cannot append an empty message"),
    [IMAP_R_UNKNOWN_CTE] = R_NO("UNKNOWN-CTE", "Unknown content transfer encoding"),
    [IMAP_R_EXPUNGEISSUED] = R_NO("EXPUNGEISSUED", "Some messages were expunged"),
    [IMAP_R_COMPRESSIONACTIVE] = R_NO("COMPRESSIONACTIVE", "DEFLATE active"),
    [IMAP_R_AUTHFAILED] = R_NO("AUTHENTICATIONFAILED", "Authentication failed"),
    [IMAP_R_PRIVACYREQUIRED] = R_NO("PRIVACYREQUIRED", "Plaintext authentication disallowed before STARTTLS"),
    [IMAP_R_MECH_UNSUPPORTED] = R_NO(NULL, "Unsupported authentication mechanism"),
    [IMAP_R_URLAUTH_MECH] = R_NO(NULL, "Only the INTERNAL mechanism is offered"),
    [IMAP_R_NOPERM_URL_OWNER] = R_NO("NOPERM", "The URL must name one of your mailboxes"),
    [IMAP_R_NOPERM_URL_ACCESS] = R_NO("NOPERM", "Only user+ and authuser access are offered"),
    [IMAP_R_NOPERM_URL_VAULT] = R_NO("NOPERM", "Vault documents are shared by a grant (SETACL), not by URL"),
    [IMAP_R_LIMIT_SEARCH_KEYS] = R_NO("LIMIT", "More than %s search keys"),
    [IMAP_R_LIMIT_SEARCH_TIME] = R_NO("LIMIT", "%s took longer than %s s: narrow it"),
    [IMAP_R_LIMIT_URLAUTH] = R_NO("LIMIT", "More than %s URLs signed: RESETKEY forgets them"),
    [IMAP_R_BADURL] = R_NO("BADURL", "Invalid or unreadable URL"),
    [IMAP_R_STORE_GONE] = R_NO(NULL, "Invalid flags or mailbox gone"),
    [IMAP_R_BADEVENT] = R_NO("BADEVENT", "Event not supported"),
    [IMAP_R_NOTIFICATIONOVERFLOW] = R_NO("NOTIFICATIONOVERFLOW", "Too many mailboxes to watch"),

    [IMAP_R_SYNTAX] = R_BAD(NULL, "%s"),
    [IMAP_R_PARSE] = R_BAD(NULL, "Error in IMAP command: %s"),
    [IMAP_R_UNKNOWN_COMMAND] = R_BAD(NULL, "Unknown command"),
    [IMAP_R_NOT_BEFORE_AUTH] = R_BAD(NULL, "%s not allowed before authentication"),
    [IMAP_R_NOT_WITHOUT_SELECT] = R_BAD(NULL, "%s not allowed without a selected mailbox"),
    [IMAP_R_NOT_NOW] = R_BAD(NULL, "%s not allowed now"),
    [IMAP_R_BAD_ARGS] = R_BAD(NULL, "Invalid %s arguments"),
    [IMAP_R_NO_ARGS] = R_BAD(NULL, "%s takes no arguments"),
    [IMAP_R_EXPECTS_MAILBOX] = R_BAD(NULL, "%s expects a mailbox name"),
    [IMAP_R_EXPECTS_TWO_MAILBOXES] = R_BAD(NULL, "%s expects two mailbox names"),
    [IMAP_R_EXPECTS_SET_MAILBOX] = R_BAD(NULL, "%s expects a set and a mailbox"),
    [IMAP_R_EXPECTS_STATUS] = R_BAD(NULL, "%s expects a mailbox and a list"),
    [IMAP_R_EXPECTS_IDENTIFIER] = R_BAD(NULL, "%s expects mailbox identifier"),
    [IMAP_R_EXPECTS_IDENTIFIER_RIGHTS] = R_BAD(NULL, "%s expects mailbox identifier rights"),
    [IMAP_R_IDENTIFIER_TOO_LONG] = R_BAD(NULL, "%s: identifier too long"),
    [IMAP_R_EXPECTS_QUOTA_ROOT] = R_BAD(NULL, "%s expects a quota root"),
    [IMAP_R_EXPECTS_SETQUOTA] = R_BAD(NULL, "%s expects a quota root and a list of limits"),
    [IMAP_R_EXPECTS_MECHANISM] = R_BAD(NULL, "%s expects a mechanism"),
    [IMAP_R_EXPECTS_ID] = R_BAD(NULL, "%s expects a list or NIL"),
    [IMAP_R_EXPECTS_CAPABILITIES] = R_BAD(NULL, "%s expects capability names (atoms)"),
    [IMAP_R_EXPECTS_APPEND] = R_BAD(NULL, "%s expects mailbox [flags] [date] literal"),
    [IMAP_R_EXPECTS_LITERAL8] = R_BAD(NULL, "APPEND expects UTF8 (literal8)"),
    [IMAP_R_EXPECTS_CATENATE] = R_BAD(NULL, "CATENATE expects (TEXT literal / URL url ...)"),
    [IMAP_R_EXPECTS_URLS] = R_BAD(NULL, "%s expects URLs"),
    [IMAP_R_EXPECTS_GENURLAUTH] = R_BAD(NULL, "%s expects URL and mechanism pairs"),
    [IMAP_R_EXPECTS_SEARCH_TAGS] = R_BAD(NULL, "%s expects search tags"),
    [IMAP_R_EXPECTS_AUTHENTICATE] = R_BAD(NULL, "%s expects a mechanism and an optional initial response"),
    [IMAP_R_EXPECTS_LOGIN] = R_BAD(NULL, "%s expects user and password"),
    [IMAP_R_EXPECTED_DONE] = R_BAD(NULL, "Expected DONE"),
    [IMAP_R_UNKNOWN_COMPRESSION] = R_BAD(NULL, "Unknown compression mechanism"),
    [IMAP_R_TLS_ACTIVE] = R_BAD(NULL, "TLS is already active"),
    [IMAP_R_INVALID_MAILBOX] = R_BAD(NULL, "Invalid mailbox name"),
    [IMAP_R_INVALID_FLAGS] = R_BAD(NULL, "Invalid flags"),
    [IMAP_R_INVALID_KEYWORD] = R_BAD(NULL, "Invalid keyword"),
    [IMAP_R_INVALID_DATE] = R_BAD(NULL, "Invalid date-time"),
    [IMAP_R_INVALID_URLAUTH] = R_BAD(NULL, "Invalid URLAUTH URL"),
    [IMAP_R_VANISHED_NEEDS_QRESYNC] = R_BAD(NULL, "VANISHED needs ENABLE QRESYNC"),
    [IMAP_R_NOMODSEQ] = R_BAD(NULL, "No MODSEQ in a shared folder (NOMODSEQ)"),
    [IMAP_R_UNKNOWN_CONTEXT] = R_BAD(NULL, "Unknown search context"),
    [IMAP_R_AUTH_BASE64] = R_BAD(NULL, "Invalid base64 or response"),
    [IMAP_R_AUTH_CANCELLED] = R_BAD(NULL, "Authentication cancelled"),
};

const struct imap_reply *imap_reply_get(enum imap_reply_id id)
{
	return &replies[id];
}

const char *imap_num(unsigned long long v, struct imap_num *n)
{
	str_assert(str_format(n->text, sizeof(n->text), "%llu", v), "a 64-bit number fits in 24 bytes");
	return n->text;
}

const char *imap_status_name(enum imap_status st)
{
	return st == IMAP_OK ? "OK" : st == IMAP_NO ? "NO" : "BAD";
}

int imap_reply_format(struct buf *out, enum imap_reply_id id, const char *data, const char *a, const char *b)
{
	const struct imap_reply *r = &replies[id];
	const char *args[2] = {a, b};
	size_t next = 0;

	if (r->code != NULL) {
		if (buf_printf(out, "[%s%s%s] ", r->code, data != NULL ? " " : "", data != NULL ? data : "") <
		    0)
			return -1;
	}
	for (const char *p = r->text; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *v = next < 2 ? args[next] : NULL;
			next++;
			p++;
			if (v != NULL && buf_append_str(out, v) < 0)
				return -1;
		} else if (buf_append_char(out, *p) < 0) {
			return -1;
		}
	}
	return 0;
}

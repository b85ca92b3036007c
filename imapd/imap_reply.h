/* imap_reply.h: every tagged IMAP completion the server sends, as one table.
 *
 * Handlers name a reply by its id; status (OK/NO/BAD), response code (RFC 3501 7.1,
 * RFC 5530) and text live in imap_reply.c only, so a reply cannot drift between two
 * handlers, and a new refusal is chosen among the existing ones before a text is
 * invented (scripts/check-style refuses a literal text at a call site). A row's text
 * may hold "%s" slots, filled by the strings the sender passes (a command name, a
 * store's error), never by a format: the variable data of a response code
 * ([COPYUID 7 1:3 4:6]) is the only part formatted at the call site. */
#ifndef MSS_IMAP_REPLY_H
#define MSS_IMAP_REPLY_H

#include <stdbool.h>

#include "lib/buf.h"
#include "lib/check.h"

enum imap_status { IMAP_OK, IMAP_NO, IMAP_BAD };

enum imap_reply_id {
	/* ---- OK ---- */
	IMAP_R_DONE,              /* OK "<command> completed" */
	IMAP_R_DONE_NOUPDATE,     /* OK [NOUPDATE "tag"] (RFC 5267 4.2) */
	IMAP_R_SELECTED_RW,       /* OK [READ-WRITE] */
	IMAP_R_SELECTED_RO,       /* OK [READ-ONLY] */
	IMAP_R_LOGGED_IN,         /* OK [CAPABILITY ...] (RFC 3501 7.2.1) */
	IMAP_R_STARTTLS_GO,       /* OK, then the TLS handshake */
	IMAP_R_ENABLED,           /* OK */
	IMAP_R_DEFLATE_ON,        /* OK, then DEFLATE (RFC 4978) */
	IMAP_R_APPENDUID,         /* OK [APPENDUID v uids] (RFC 4315) */
	IMAP_R_APPENDUID_PROFILE, /* OK [APPENDUID v uid] + section and version */
	IMAP_R_COPYUID,           /* OK [COPYUID v src dst] (RFC 4315) */
	IMAP_R_COPYUID_PROFILE,   /* OK [COPYUID v src dst] + section and version */
	IMAP_R_MODIFIED,          /* OK [MODIFIED set] (RFC 7162 3.1.3) */
	IMAP_R_NOTIFY_DONE,       /* OK: NOTIFY SET (RFC 5465) */
	/* ---- NO ---- */
	IMAP_R_SERVERBUG,            /* NO [SERVERBUG]; [UNAVAILABLE] when the database is down */
	IMAP_R_SERVERBUG_READ,       /* NO [SERVERBUG], some messages unreadable */
	IMAP_R_SERVERBUG_FAILED,     /* NO [SERVERBUG] "<command> failed" */
	IMAP_R_UNAVAILABLE,          /* NO [UNAVAILABLE] (RFC 5530) */
	IMAP_R_NONEXISTENT,          /* NO [NONEXISTENT] */
	IMAP_R_NONEXISTENT_WHY,      /* NO [NONEXISTENT] "<store's reason>" */
	IMAP_R_NO_QUOTA_ROOT,        /* NO [NONEXISTENT] (RFC 9208) */
	IMAP_R_TRYCREATE,            /* NO [TRYCREATE] (RFC 3501 6.3.11) */
	IMAP_R_NOPERM,               /* NO [NOPERM] */
	IMAP_R_NOPERM_HISTORY,       /* NO [NOPERM]: the history folder is read-only */
	IMAP_R_NOPERM_HISTORY_SEEN,  /* NO [NOPERM]: only \Seen changes there */
	IMAP_R_NOPERM_SUPERSEDED,    /* NO [NOPERM]: $Superseded is the vault's */
	IMAP_R_NOPERM_DOCUMENTS,     /* NO [NOPERM]: Documents takes documents sent to you */
	IMAP_R_NOPERM_BOOK,          /* NO [NOPERM]: the vaccination book is the service's */
	IMAP_R_NOPERM_QUOTA,         /* NO [NOPERM]: SETQUOTA (RFC 9208 4.3) */
	IMAP_R_READONLY,             /* NO [READ-ONLY] */
	IMAP_R_CANNOT,               /* NO [CANNOT] "<reason>" */
	IMAP_R_CANNOT_SHARE,         /* NO [CANNOT]: ACL beyond lr */
	IMAP_R_CANNOT_NAME,          /* NO [CANNOT]: no mailbox can have that name */
	IMAP_R_ALREADYEXISTS,        /* NO [ALREADYEXISTS] */
	IMAP_R_ALREADYEXISTS_INBOX,  /* NO [ALREADYEXISTS] (RFC 3501 6.3.3) */
	IMAP_R_BADCHARSET,           /* NO [BADCHARSET (UTF-8 US-ASCII)] */
	IMAP_R_OVERQUOTA,            /* NO [OVERQUOTA] (RFC 9208 5) */
	IMAP_R_TOOBIG_MESSAGE,       /* NO [TOOBIG] (RFC 4469 / 7889) */
	IMAP_R_TOOBIG_MESSAGE_BAD,   /* BAD [TOOBIG]: a non-synchronising literal too big */
	IMAP_R_TOOBIG_LITERAL,       /* NO [TOOBIG] command or literal */
	IMAP_R_TOOBIG_LITERAL_BAD,   /* BAD [TOOBIG] command or non-synchronising literal */
	IMAP_R_TOOBIG_LINE,          /* BAD [TOOBIG] line */
	IMAP_R_TOOBIG_COMMAND,       /* BAD [TOOBIG] command */
	IMAP_R_EMPTY_MESSAGE,        /* NO: APPEND of nothing */
	IMAP_R_UNKNOWN_CTE,          /* NO [UNKNOWN-CTE] (RFC 3516 4.3) */
	IMAP_R_EXPUNGEISSUED,        /* NO [EXPUNGEISSUED] (RFC 5530) */
	IMAP_R_COMPRESSIONACTIVE,    /* NO [COMPRESSIONACTIVE] (RFC 4978 3) */
	IMAP_R_AUTHFAILED,           /* NO [AUTHENTICATIONFAILED] */
	IMAP_R_PRIVACYREQUIRED,      /* NO [PRIVACYREQUIRED]: LOGIN before STARTTLS */
	IMAP_R_MECH_UNSUPPORTED,     /* NO: AUTHENTICATE with a mechanism not offered */
	IMAP_R_URLAUTH_MECH,         /* NO: RESETKEY with a mechanism not INTERNAL */
	IMAP_R_NOPERM_URL_OWNER,     /* NO [NOPERM]: GENURLAUTH of another's mailbox */
	IMAP_R_NOPERM_URL_ACCESS,    /* NO [NOPERM]: GENURLAUTH access not offered */
	IMAP_R_NOPERM_URL_VAULT,     /* NO [NOPERM]: GENURLAUTH of a patient's vault folder */
	IMAP_R_LIMIT_SEARCH_KEYS,    /* NO [LIMIT] (imap_max_search_keys) */
	IMAP_R_LIMIT_SEARCH_TIME,    /* NO [LIMIT] (imap_search_timeout) */
	IMAP_R_LIMIT_URLAUTH,        /* NO [LIMIT] (imap_urlauth_max_keys) */
	IMAP_R_BADURL,               /* NO [BADURL url] (RFC 4469 5) */
	IMAP_R_STORE_GONE,           /* NO: STORE on flags that vanished with the mailbox */
	IMAP_R_BADEVENT,             /* NO [BADEVENT (events)] (RFC 5465 5) */
	IMAP_R_NOTIFICATIONOVERFLOW, /* NO [NOTIFICATIONOVERFLOW] (RFC 5465 5) */
	/* ---- BAD ---- */
	IMAP_R_SYNTAX,             /* BAD "<parser's message>" */
	IMAP_R_PARSE,              /* BAD "Error in IMAP command: <parser's message>" */
	IMAP_R_UNKNOWN_COMMAND,    /* BAD */
	IMAP_R_NOT_BEFORE_AUTH,    /* BAD: command needs a login */
	IMAP_R_NOT_WITHOUT_SELECT, /* BAD: command needs a selected mailbox */
	IMAP_R_NOT_NOW,            /* BAD: command not allowed in this state */
	IMAP_R_BAD_ARGS,           /* BAD "Invalid <command> arguments" */
	IMAP_R_NO_ARGS,            /* BAD "<command> takes no arguments" */
	IMAP_R_EXPECTS_MAILBOX,    /* BAD "<command> expects a mailbox name" */
	IMAP_R_EXPECTS_TWO_MAILBOXES,
	IMAP_R_EXPECTS_SET_MAILBOX,
	IMAP_R_EXPECTS_STATUS,
	IMAP_R_EXPECTS_IDENTIFIER,
	IMAP_R_EXPECTS_IDENTIFIER_RIGHTS,
	IMAP_R_IDENTIFIER_TOO_LONG,
	IMAP_R_EXPECTS_QUOTA_ROOT,
	IMAP_R_EXPECTS_SETQUOTA,
	IMAP_R_EXPECTS_MECHANISM,
	IMAP_R_EXPECTS_ID,
	IMAP_R_EXPECTS_CAPABILITIES,
	IMAP_R_EXPECTS_APPEND,
	IMAP_R_EXPECTS_LITERAL8, /* BAD: APPEND UTF8 without literal8 (RFC 6855 4) */
	IMAP_R_EXPECTS_CATENATE,
	IMAP_R_EXPECTS_URLS,
	IMAP_R_EXPECTS_GENURLAUTH,
	IMAP_R_EXPECTS_SEARCH_TAGS,
	IMAP_R_EXPECTS_AUTHENTICATE,
	IMAP_R_EXPECTS_LOGIN,
	IMAP_R_EXPECTED_DONE, /* BAD: IDLE ended by something else than DONE */
	IMAP_R_UNKNOWN_COMPRESSION,
	IMAP_R_TLS_ACTIVE,
	IMAP_R_INVALID_MAILBOX,
	IMAP_R_INVALID_FLAGS,
	IMAP_R_INVALID_KEYWORD,
	IMAP_R_INVALID_DATE,
	IMAP_R_INVALID_URLAUTH,
	IMAP_R_VANISHED_NEEDS_QRESYNC, /* BAD (RFC 7162 3.2.6) */
	IMAP_R_NOMODSEQ,               /* BAD: MODSEQ in a shared vault view (RFC 7162 3.1.2) */
	IMAP_R_UNKNOWN_CONTEXT,        /* BAD: CANCELUPDATE of an unknown tag (RFC 5267 4.3) */
	IMAP_R_AUTH_BASE64,            /* BAD: an AUTHENTICATE response not base64 */
	IMAP_R_AUTH_CANCELLED,         /* BAD "*" (RFC 9051 6.2.2) */
	IMAP_R_COUNT
};

struct imap_reply {
	enum imap_status status;
	const char *code; /* response code without brackets, NULL when none */
	const char *text; /* may hold "%s" slots (at most two), nothing else after a '%' */
};

/* The table row for id (never NULL for a valid id). */
const struct imap_reply *imap_reply_get(enum imap_reply_id id);
/* "OK", "NO" or "BAD". */
const char *imap_status_name(enum imap_status st);
/* Room for a number that fills a slot (slots take text, never a format). */
struct imap_num {
	char text[24];
};
/* v in decimal, kept in n. Returns n->text. */
const char *imap_num(unsigned long long v, struct imap_num *n);
/* Appends "[CODE data] text" for id to out: data (may be NULL) after the code's name,
 * the slots of text filled in order by a and b (NULL gives ""). Returns 0, -1 when out
 * is full (a bounded buffer). */
MSS_MUST_CHECK int imap_reply_format(struct buf *out, enum imap_reply_id id, const char *data, const char *a,
                                     const char *b);

#endif

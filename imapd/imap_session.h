/* imap_session.h: one IMAP connection: its state, its selected mailbox, its replies.
 *
 * A session runs in its own process (forked by lib/master). The command loop reads
 * whole commands (literals included) through lib/conn's bounded reader, parses them
 * (imap_parser), and dispatches through the command table (imap_cmd), which checks
 * the state before any handler runs. */
#ifndef MSS_IMAP_SESSION_H
#define MSS_IMAP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "directory/account.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imapd/imap_reply.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/conn.h"
#include "lib/strset.h"
#include "lib/tls.h"
#include "store/store.h"

struct oauth_keys;

enum imap_state {
	IMAP_STATE_NOT_AUTH = 0x1,
	IMAP_STATE_AUTH = 0x2,
	IMAP_STATE_SELECTED = 0x4,
	IMAP_STATE_LOGOUT = 0x8,
};

/* One message as the session sees it: index i is sequence number i + 1. 24 bytes (a
 * session with a 100,000-message mailbox selected holds 100,000 of them): \Recent
 * shares the flags' word (STORE_FLAG_* use the low bits). */
struct imap_msg {
	uint32_t uid;
	uint32_t flags : 30;      /* STORE_FLAG_* */
	uint32_t unannounced : 1; /* read after SELECT with newer flags: FETCH at the next catch-up */
	uint32_t recent : 1;      /* \Recent for this session (arrived while selected) */
	uint64_t modseq;
	const char *keywords; /* in the view's kwsets (one copy of each list), NULL when none */
};

/* Where a mailbox name points: one's own mailbox, or a patient's vault folder that a
 * professional may read ("Patients/<patient>/Documents/<Class>", imap_vault.c). */
struct imap_target {
	char owner[256];              /* the store user holding the mailbox */
	char name[STORE_MAILBOX_MAX]; /* its name in the owner's store (UTF-8) */
	bool shared;                  /* another account's data: read-only, audited */
	char patient[256];            /* shared: the patient whose vault it is */
	bool ps;                      /* shared: Documents-PS (INVISIBLE_PATIENT documents) */
};

/* The selected mailbox: a snapshot kept in step with the store by imap_view_sync. */
struct imap_view {
	bool open;
	int64_t id;
	char name[STORE_MAILBOX_MAX]; /* UTF-8, in the owner's store */
	char owner[256];              /* store user (the session's account unless shared) */
	bool shared;                  /* a patient's vault seen by a professional: $Masked hidden */
	bool readonly;                /* EXAMINE */
	char patient[256];            /* shared: the patient whose vault it is */
	bool ps;                      /* shared: Documents-PS, never shown in the patient's history */
	bool history;                 /* the patient's own Historique: only \Seen may change */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq; /* the last MODSEQ this session has caught up to */
	/* The mailbox's HIGHESTMODSEQ and UIDNEXT read by this command with a message's
	 * body, or by a SELECT again (stamp true): the catching up at its end compares
	 * with them instead of asking the store again (issue 15). Reset before each
	 * command: never older. */
	bool stamp;
	uint64_t stamp_highestmodseq;
	uint32_t stamp_uidnext;
	struct imap_msg *v;
	size_t n, cap;
	size_t nrecent; /* messages with recent set */
	/* What a SELECT again answers without a pass over v[] (issue 15): recent is set
	 * only at UIDs from recent_low on (0 when not known), and v[0..seen_below) all have
	 * \Seen (the first unseen is at seen_below or after). */
	uint32_t recent_low;
	size_t seen_below;
	/* A first SELECT of one's own mailbox answers from the counts (issue 15): the
	 * messages are read when a command needs them (imap_view_load), as they were then:
	 * pending_exists and pending_unseen (0 none) stand for them until; recent_uid is the
	 * first UID \Recent in this session. */
	bool pending;
	size_t pending_exists;
	uint32_t pending_unseen;
	uint32_t recent_uid;
	unsigned lookups;      /* UID commands answered without reading them (imap_view_lookup) */
	int watch_fd;          /* store change notifications, -1 when none */
	struct store_view *sv; /* how far this session was told of expunges (store_view_open) */
	/* keywords announced in the last FLAGS response (a new one is announced before a
	 * FETCH shows it, RFC 9051 7.3.5) */
	char **kw;
	size_t nkw;
	/* every keyword list of v[] stored once (most messages share one of a few) */
	struct strset kwsets;
};

#define IMAP_CONTEXTS_MAX 8 /* RFC 5267 UPDATE searches kept at once; more get NOUPDATE */
struct imap_context;
struct imap_notify;

/* The session's account as it logged in, and the watch that tells it the account was
 * disabled, deleted or given a new password (imap_kick.c). */
struct imap_kick {
	bool armed;       /* in the logged-in session process (it holds the store) */
	int fd;           /* store_account_watch_open, -1: none (no wake: see imap_kick.h) */
	bool by_password; /* the login used the password: a new one ends the session */
	bool by_cert;     /* the login used a certificate: set-cert ends the session */
	struct account_stamp at_login;
};

struct imap_session {
	struct conn *conn;
	struct imap_parser *parser; /* the command being read (imap_reader.c) */
	struct buf line;            /* its current line */
	size_t cmd_octets;          /* octets of it held in memory so far */
	const struct mss_config *cfg;
	struct store *store;
	struct tls_ctx *tls;
	const struct oauth_keys *oauth; /* NULL when OAuth is not configured */
	bool implicit_tls;              /* imaps listener */
	bool cert_maps;                 /* the client certificate maps to an account (EXTERNAL) */
	/* the pre-login process's channel to its session process (auth/auth_chan.h), which
	 * verifies logins; -1: verified in this process (no privilege separation) */
	int auth_fd;
	enum imap_state state;
	struct account account;  /* valid once authenticated */
	const char *auth_method; /* auth_strength_name(): "password", "certificate", ... */
	bool enabled_utf8;       /* UTF-8 mailbox names and strings: UTF8=ACCEPT or IMAP4rev2 */
	bool enabled_utf8accept; /* ENABLE UTF8=ACCEPT itself (RFC 6855: no SEARCH CHARSET) */
	bool enabled_condstore;  /* ENABLE CONDSTORE, or a CONDSTORE-using command */
	bool enabled_rev2;       /* ENABLE IMAP4rev2 */
	bool enabled_qresync;    /* ENABLE QRESYNC (RFC 7162 3.2.3): VANISHED, not EXPUNGE */
	unsigned bad_in_row;     /* consecutive BAD replies (BYE at cfg->imap_max_bad) */
	bool close_after_reply;  /* BYE was sent: end the session */
	unsigned cmd_flags;      /* CMD_* of the command being answered (imap_cmd.h) */
	struct imap_view view;
	uint32_t *saved; /* SEARCHRES "$" (RFC 5182): UIDs, ascending */
	size_t nsaved;
	/* SEARCH RETURN (UPDATE) contexts of the selected mailbox (imap_context.c) */
	struct imap_context *ctx[IMAP_CONTEXTS_MAX];
	size_t nctx;
	struct imap_notify *notify; /* NOTIFY SET in force (imap_notify.c), NULL when none */
	struct imap_kick kick;
	/* counted, not listed: reading one's own mail (audited once at logout) */
	unsigned n_select, n_fetch, n_append, n_expunge;
};

/* Runs the session on an accepted socket until LOGOUT, EOF, timeout or BYE. With
 * auth_fd set (a pre-login process), it returns as soon as a login succeeded, its
 * tagged OK sent, for the relay. Entered with state IMAP_STATE_AUTH and the account
 * set (the session process after such a login), it greets no one and goes on from
 * there. */
void imap_session_run(struct imap_session *s);

/* ---- replies ---- */
/* Tagged completion, named in the reply table (imap_reply.h). Before it, untagged
 * updates of the selected mailbox are sent when allowed (imap_view_sync). BAD increments
 * the consecutive-BAD counter (and closes the session past the limit); OK and NO reset
 * it. A NO [SERVERBUG] while the database is unreachable goes out as [UNAVAILABLE]
 * (RFC 5530: temporary, not a bug). */
void imap_send(struct imap_session *s, const char *tag, enum imap_reply_id id);
/* The same, a filling the row's first "%s" slot (a command name, a store's reason). */
void imap_send_text(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a);
/* The same, with two slots. */
void imap_send_text2(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a,
                     const char *b);
/* The same, the response code's data ([COPYUID <data>]) formatted from fmt: the only
 * format at a call site, never the reply's text. a and b fill the slots (may be NULL). */
void imap_send_code(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a,
                    const char *b, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Writes a string as IMAP quoted text when it is short and safe, else as a literal. */
void imap_write_string(struct imap_session *s, const char *p, size_t len);
/* Writes a mailbox name (UTF-8 inside) as it must appear on the wire: modified UTF-7,
 * or UTF-8 after ENABLE UTF8=ACCEPT. */
void imap_write_mailbox(struct imap_session *s, const char *name);
/* Decodes a mailbox name argument into UTF-8 (INBOX case-folded). Returns 0; -1 when
 * the argument is not an astring (BAD); -2 when it is not valid modified UTF-7 / UTF-8
 * or too long: no mailbox can have that name (NO). */
int imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a, char *out, size_t outlen);
/* Appends "flag flag ..." for flags and keywords into out, a BUF_UNLIMITED buffer. */
void imap_flags_format(struct buf *out, uint32_t flags, const char *keywords, bool recent);
/* Writes "FLAGS (flag flag ...)" straight into the reply (no allocation: FETCH 1:*
 * FLAGS writes it once per message). */
void imap_flags_write(struct imap_session *s, uint32_t flags, const char *keywords, bool recent);
/* Parses a flag list "(\Seen kw)" or a single flag into flags + keywords (space
 * separated, into kw). Returns 0 or -1 (invalid flag, \Recent, non-flag). */
int imap_flags_parse(const struct imap_arg *a, uint32_t *flags, struct buf *kw);
/* Appends an ascending list of numbers in compact set form ("1:3,7") into out, a
 * BUF_UNLIMITED buffer. */
void imap_set_format(struct buf *out, const uint32_t *v, size_t n);
/* Turns CONDSTORE on for the session (RFC 7162 3.1 enabling commands), sending
 * "* OK [HIGHESTMODSEQ n]" the first time when a mailbox is selected. */
void imap_condstore_enable(struct imap_session *s);
/* Appends an audit record (action, target, result); failures are logged, not fatal. */
void imap_audit(struct imap_session *s, const char *action, const char *target, const char *detail,
                const char *result);

/* ---- the selected mailbox (imap_view.c) ---- */
/* Opens the view of mailbox t, closing the one open; when that is t itself (not
 * shared), it is caught up instead of read again whole. A shared view leaves out the
 * messages with the keyword $Masked. Returns 1, 0 when it does not exist, -1. */
int imap_view_open(struct imap_session *s, const struct imap_target *t, bool readonly,
                   struct store_mailbox *mb);
/* true when the message is hidden from this view ($Masked in a shared view). */
bool imap_view_hides(const struct imap_session *s, const char *keywords);
void imap_view_close(struct imap_session *s);
/* Brings the view up to date and writes the untagged EXPUNGE / EXISTS / FETCH FLAGS
 * responses. allow_expunge false (during FETCH, STORE, SEARCH) defers everything.
 * Returns 0, or -1 when the mailbox disappeared (BYE sent). */
int imap_view_sync(struct imap_session *s, bool allow_expunge);
/* Resolves a sequence set argument (sequence numbers, or UIDs when uid) into the view's
 * indexes (ascending, unique, malloc'ed into *idx). Returns 0, or -1 with err for BAD. */
int imap_view_resolve(struct imap_session *s, const char *set, bool uid, size_t **idx, size_t *n,
                      const char **err);
/* Reads the messages of a view SELECT answered from the counts (no-op otherwise), as
 * they were at that SELECT: a command that needs sequence numbers or messages calls it
 * first (imap_cmd_dispatch), the catching up when the mailbox changed. 0, or -1 (logged;
 * still pending). */
int imap_view_load(struct imap_session *s);
/* The messages a UID set names, as the view would hold them, with their sequence
 * numbers, while it is not read yet (imap_view_load): a UID FETCH of a few messages
 * after SELECT then costs one block of the mailbox's snapshot, not every message
 * (issue 15). */
struct imap_view_hits {
	struct imap_msg *m; /* ascending UID; keywords in the view's kwsets */
	size_t *seq;
	size_t n;
};
/* Returns 1 with *h filled (imap_view_hits_free), 0 when the view must be read: it is
 * read already, imap_view_lookups commands were answered so since SELECT (then the view
 * costs less), the set is "$", names '*' or spans more than imap_view_lookup_uids UIDs,
 * or the store cannot answer so (store_select_lookup_as_of). */
int imap_view_lookup(struct imap_session *s, const char *set, struct imap_view_hits *h);
void imap_view_hits_free(struct imap_view_hits *h);
/* Index of uid in the view, or (size_t)-1. */
size_t imap_view_find(const struct imap_session *s, uint32_t uid);
/* Removes the message with uid and writes "* n EXPUNGE" ("* VANISHED uid" once
 * QRESYNC is enabled). */
void imap_view_expunged(struct imap_session *s, uint32_t uid);
/* Same for n UIDs (ascending; those not in the view are skipped): one "* VANISHED set"
 * once QRESYNC is enabled (RFC 7162 3.2.10), else one "* n EXPUNGE" each. */
void imap_view_expunge_uids(struct imap_session *s, const uint32_t *uids, size_t n);
/* The index of the view's first entry without \Seen, v->n when none: found from
 * seen_below on, and kept there, so that a SELECT again does not pass over every seen
 * message before it (issue 15). */
size_t imap_view_first_unseen(struct imap_view *v);
/* Writes "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])" for view entry i. */
void imap_view_write_fetch_flags(struct imap_session *s, size_t i);
/* Announces the keywords of a message that the last FLAGS response did not name:
 * writes "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" when there are any. */
void imap_view_note_keywords(struct imap_session *s, const char *keywords);
/* Fills the view's keyword set from its messages (at SELECT); frees it. */
void imap_view_collect_keywords(struct imap_view *v);
/* Adds the keywords of one space-separated list not yet known (no FLAGS written). */
void imap_view_add_keywords(struct imap_view *v, const char *keywords);
void imap_view_free_keywords(struct imap_view *v);
/* Writes the FLAGS and PERMANENTFLAGS responses with every keyword the view holds. */
void imap_view_write_flags(struct imap_session *s);
/* Replaces the flags of view entry i (announcing new keywords first). */
void imap_view_set_flags(struct imap_session *s, size_t i, uint32_t flags, const char *keywords,
                         uint64_t modseq);

#endif

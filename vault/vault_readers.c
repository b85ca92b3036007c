/* vault_readers.c: who, besides its owner, may read a message: the vault's rule given
 * to the store (store_readers_set), which seals each such message's key to every
 * reader (issue 12, blob_keys; doc/architecture.md "Who can decrypt").
 *
 * The readers of a patient's shared folders (Documents and its classes, Profil,
 * Constantes, Vaccinations) and of the patient's Documents-PS folders (held by the PS
 * service account as "<patient>/Documents...") are the professionals vault_may_read
 * lets in now: a grant, no block, both accounts enabled. A $Masked message has none.
 * Every other mailbox is private. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/mss_limits.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"
#include "vault/vault.h"
#include "vault/vault_access.h"
#include "vault/vault_folder.h"

#define ADDR_MAX MSS_ADDRESS_SIZE

/* The patient whose vault (owner, mailbox) is part of, into patient: 1, 0 when the
 * mailbox is not shared. */
static int vault_patient(struct store *st, const char *owner, const char *mailbox, char *patient, size_t plen)
{
	char ps[ADDR_MAX];
	if (vault_ps_user(store_config(st), ps, sizeof ps) == 0 && strcasecmp(owner, ps) == 0) {
		const char *slash = strchr(mailbox, '/');
		if (slash == NULL || (size_t)(slash - mailbox) >= plen ||
		    !vault_is_documents_mailbox(slash + 1))
			return 0;
		memcpy(patient, mailbox, (size_t)(slash - mailbox));
		patient[slash - mailbox] = '\0';
		return 1;
	}
	if (!vault_is_shared_mailbox(mailbox) || str_copy(patient, plen, owner) != 0)
		return 0;
	str_lower(patient);
	return 1;
}

struct reader_walk {
	int (*add)(void *ctx, const char *address);
	void *ctx;
};

static int reader_row(void *arg, struct sql_stmt *q)
{
	struct reader_walk *w = arg;
	return w->add(w->ctx, sql_text(q, 0)) < 0 ? -1 : 0;
}

static int readers(struct store *st, const char *owner, const char *mailbox,
                   int (*add)(void *ctx, const char *address), void *ctx, char *err, size_t errlen)
{
	char patient[ADDR_MAX];
	struct reader_walk w = {add, ctx};
	if (vault_patient(st, owner, mailbox, patient, sizeof patient) != 1)
		return 0;
	/* vault_may_read's conditions, for every professional at once */
	int rc =
	    sql_foreach(store_sql(st), "vault.readers",
	                "SELECT g.professional FROM vault_grant g"
	                " JOIN accounts p ON p.address = g.patient AND p.role = 'patient' AND p.disabled = 0"
	                " JOIN accounts r ON r.address = g.professional AND r.disabled = 0"
	                "  AND r.role IN ('professional', 'organisation')"
	                " WHERE g.patient = ?1 AND NOT EXISTS (SELECT 1 FROM patient_blocks b"
	                "  WHERE b.patient = g.patient AND b.professional = g.professional)"
	                " ORDER BY g.professional",
	                SQL_ARGS(SQL_TEXT(patient)), reader_row, &w, err, errlen);
	return rc == 0 ? 0 : -1;
}

static const struct store_readers rule = {readers, vault_folder_masked};

void vault_readers_install(void)
{
	store_readers_set(&rule);
}

int vault_readers_refresh(struct store *st, const char *patient, char *err, size_t errlen)
{
	char ps[ADDR_MAX];
	struct store_readers_report rep;
	vault_readers_install(); /* the vault's own rule, whoever calls */
	if (store_readers_refresh(st, patient, 0, &rep, err, errlen) < 0)
		return -1;
	if (rep.added > 0 || rep.removed > 0)
		log_info("vault.readers", "patient=%s added=%zu removed=%zu", patient, rep.added,
		         rep.removed);
	if (vault_ps_user(store_config(st), ps, sizeof ps) != 0 || store_user_exists(st, ps) != 1)
		return 0;
	/* rows no longer due go whatever happens next (no key needed); adding needs the PS
	 * account's key, which this process may not open: then logged, migrate fills them */
	char why[256];
	if (store_readers_prune(st, ps, &rep, err, errlen) < 0)
		return -1;
	if (store_readers_refresh(st, ps, 0, &rep, why, sizeof why) < 0)
		log_warn("vault.readers", "patient=%s account=%s error=\"%s\" (mssctl migrate fills them)",
		         patient, ps, why);
	return 0;
}

struct name_list {
	char **v;
	size_t n;
};

static int name_row(void *arg, struct sql_stmt *q)
{
	struct name_list *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(sql_text(q, 0));
	return 0;
}

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

int vault_readers_fill_all(struct store *st, struct store_readers_report *total, char *err, size_t errlen)
{
	struct name_list owners = {0};
	char ps[ADDR_MAX];
	memset(total, 0, sizeof *total);
	vault_readers_install();
	int rc = sql_foreach(store_sql(st), "vault.readers_owners",
	                     "SELECT address FROM accounts WHERE role = 'patient' ORDER BY address",
	                     SQL_NOARGS, name_row, &owners, err, errlen);
	if (rc == 0 && vault_ps_user(store_config(st), ps, sizeof ps) == 0 &&
	    store_user_exists(st, ps) == 1) {
		owners.v = xrealloc(owners.v, (owners.n + 1) * sizeof(*owners.v));
		owners.v[owners.n++] = xstrdup(ps);
	}
	for (size_t i = 0; i < owners.n && rc == 0; i++) {
		struct store_readers_report rep;
		size_t rekeyed = 0;
		rc = store_readers_rekey(st, owners.v[i], &rekeyed, err, errlen);
		total->rekeyed += rekeyed;
		if (rc == 0)
			rc = store_readers_refresh(st, owners.v[i], 0, &rep, err, errlen);
		if (rc == 0) {
			total->added += rep.added;
			total->removed += rep.removed;
		}
	}
	names_free(&owners);
	return rc < 0 ? -1 : 0;
}

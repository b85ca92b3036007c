/* vault_copy_decide.c: what a patient's copy of a message withholds (see
 * vault_copy.h). Pure: the inspection and the patient's INS in, a plan out. */
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_copy.h"

/* When several reasons apply, the one the note must speak of first. */
static enum vault_withhold worse(enum vault_withhold a, enum vault_withhold b)
{
	return a > b ? a : b;
}

/* A qualified INS (by its assigning authority) that is not the patient's. */
static bool names_other(const char *ins, const char *oid, const char *patient_ins)
{
	return patient_ins[0] && ins[0] && xdm_is_ins_oid(oid) && strcmp(ins, patient_ins) != 0;
}

static enum vault_withhold xdm_verdict(const struct xdm_metadata *md, const char *patient_ins)
{
	enum vault_withhold v = VW_KEEP;
	for (size_t i = 0; i < md->ndocs; i++) {
		const struct xdm_document *d = &md->docs[i];
		if (d->invisible_patient)
			v = worse(v, VW_INVISIBLE);
		if (names_other(d->patient_ins, d->patient_oid, patient_ins))
			v = worse(v, VW_OTHER_PATIENT);
	}
	return v;
}

static enum vault_withhold item_verdict(const struct vault_item *it, const char *patient_ins)
{
	switch (it->kind) {
	case VITEM_UNINSPECTED:
		return VW_UNINSPECTED;
	case VITEM_XDM:
		return xdm_verdict(it->md, patient_ins);
	case VITEM_DOCUMENT:
		return it->has_cda && names_other(it->cda.ins, it->cda.oid, patient_ins) ? VW_OTHER_PATIENT
		                                                                         : VW_KEEP;
	default:
		return VW_KEEP;
	}
}

/* The documents beside a withheld archive are its readable copies: they go with it. */
static void copies_follow_archives(const struct vault_inspection *in, enum vault_withhold *v)
{
	enum vault_withhold archives = VW_KEEP;
	for (size_t i = 0; i < in->nitems; i++)
		if (!in->items[i].forwarded && vault_item_is_archive(&in->items[i]))
			archives = worse(archives, v[in->items[i].part]);
	if (archives == VW_KEEP)
		return;
	for (size_t i = 0; i < in->nitems; i++) {
		const struct vault_item *it = &in->items[i];
		if (!it->forwarded && it->kind == VITEM_DOCUMENT)
			v[it->part] = worse(v[it->part], archives);
	}
}

/* A forwarded message goes whole when anything inside it goes. */
static void messages_follow_contents(const struct msg *m, enum vault_withhold *v)
{
	for (size_t i = m->nparts; i-- > 1;) {
		int p = m->parts[i].parent;
		for (; p > 0; p = m->parts[p].parent)
			if (m->parts[p].kind == MSG_PART_MESSAGE)
				v[p] = worse(v[p], v[i]);
	}
}

static void count_reasons(const struct vault_inspection *in, struct vault_copy_plan *plan)
{
	for (size_t i = 0; i < in->nitems; i++) {
		enum vault_withhold w = plan->parts[in->items[i].part];
		plan->invisible += w == VW_INVISIBLE;
		plan->other_patient += w == VW_OTHER_PATIENT;
		plan->uninspected += w == VW_UNINSPECTED;
	}
}

/* The subject's prefix is dropped only when it is whole there (a cut subject is left). */
static bool has_prefix(const struct msg *m)
{
	return !m->h.subject_cut &&
	       strncmp(m->h.subject, VAULT_XDM_SUBJECT_PREFIX, strlen(VAULT_XDM_SUBJECT_PREFIX)) == 0;
}

int vault_copy_decide(const struct vault_inspection *in, const char *patient_ins,
                      struct vault_copy_plan *plan)
{
	const struct msg *m = in->msg;
	memset(plan, 0, sizeof *plan);
	plan->nparts = m->nparts;
	plan->parts = xcalloc(m->nparts ? m->nparts : 1, sizeof *plan->parts);
	for (size_t i = 0; i < in->nitems; i++)
		plan->parts[in->items[i].part] = item_verdict(&in->items[i], patient_ins ? patient_ins : "");
	copies_follow_archives(in, plan->parts);
	messages_follow_contents(m, plan->parts);
	count_reasons(in, plan);
	for (size_t i = 1; i < m->nparts; i++)
		if (m->parts[i].whole_body && plan->parts[i] != VW_KEEP)
			plan->whole = true;
	if (!m->complete) {
		plan->whole = true;
		plan->uninspected++; /* what was not described was not inspected */
	}
	/* a subject too long to hold whole is left as sent: rewritten, it would be cut */
	plan->strip_prefix = has_prefix(m);
	return 0;
}

void vault_copy_plan_copy(const struct vault_copy_plan *from, struct vault_copy_plan *to)
{
	*to = *from;
	to->parts = xcalloc(from->nparts ? from->nparts : 1, sizeof *to->parts);
	if (from->nparts > 0)
		memcpy(to->parts, from->parts, from->nparts * sizeof *to->parts);
}

bool vault_copy_plan_fits(const struct vault_copy_plan *plan, const struct msg *m)
{
	if (plan->nparts != m->nparts && !(plan->whole && plan->nparts == 0))
		return false;
	if (plan->strip_prefix && !has_prefix(m))
		return false;
	for (size_t i = 0; i < plan->nparts; i++)
		if (plan->parts[i] > VW_UNINSPECTED)
			return false;
	return true;
}

void vault_copy_plan_free(struct vault_copy_plan *plan)
{
	free(plan->parts);
	memset(plan, 0, sizeof *plan);
}

bool vault_copy_withholds(const struct vault_copy_plan *plan)
{
	return plan->whole || plan->invisible || plan->other_patient || plan->uninspected;
}

bool vault_copy_changes(const struct vault_copy_plan *plan)
{
	return vault_copy_withholds(plan) || plan->strip_prefix;
}

bool vault_copy_same(const struct vault_copy_plan *a, const struct vault_copy_plan *b)
{
	return a->nparts == b->nparts && a->whole == b->whole && a->strip_prefix == b->strip_prefix &&
	       (a->nparts == 0 || memcmp(a->parts, b->parts, a->nparts * sizeof *a->parts) == 0);
}

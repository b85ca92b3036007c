/* imap_thread.c: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 4 and 3).
 *
 * REFERENCES as RFC 5256 describes it, with the reading Dovecot gives (and imaptest
 * checks) where the text leaves room: a message's own References decide its parent,
 * so in step 1B the link another message's References made is broken even when the
 * new one would make a loop and is therefore not made; a Message-ID seen a second
 * time counts as none. Every walk over the tree is iterative. */
#include "imap/imap_thread.h"

#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

struct node {
	size_t parent, child, next; /* NONE when absent; children in a singly linked list */
	size_t msg;                 /* index in m, NONE for a dummy */
	int64_t date;               /* step 6 sort key (a dummy: its first child's) */
	size_t seq;                 /* tie-break: mailbox order (a dummy: its first child's) */
};

struct forest {
	struct node *v;
	size_t n, cap;
	/* Message-ID -> node, open addressing */
	const char **key;
	size_t *val, slots;
};

static size_t node_new(struct forest *f, size_t msg)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n] = (struct node){.parent = NONE, .child = NONE, .next = NONE, .msg = msg};
	return f->n++;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The node of id, created (as a dummy) when it is new. */
static size_t node_of(struct forest *f, const char *id)
{
	size_t i = (size_t)hash(id) & (f->slots - 1);
	while (f->key[i] != NULL) {
		if (strcmp(f->key[i], id) == 0)
			return f->val[i];
		i = (i + 1) & (f->slots - 1);
	}
	f->key[i] = id;
	f->val[i] = node_new(f, NONE);
	return f->val[i];
}

/* true when a is c or one of c's descendants (walking up from a). */
static bool under(const struct forest *f, size_t a, size_t c)
{
	for (size_t x = a; x != NONE; x = f->v[x].parent)
		if (x == c)
			return true;
	return false;
}

static void unlink_node(struct forest *f, size_t c)
{
	size_t p = f->v[c].parent;
	if (p == NONE)
		return;
	size_t *at = &f->v[p].child;
	while (*at != c)
		at = &f->v[*at].next;
	*at = f->v[c].next;
	f->v[c].next = NONE;
	f->v[c].parent = NONE;
}

static void link_child(struct forest *f, size_t p, size_t c)
{
	f->v[c].parent = p;
	f->v[c].next = f->v[p].child;
	f->v[p].child = c;
}

/* Step 1: the nodes and their links. */
static void build(struct forest *f, const struct imap_thread_msg *m, size_t n)
{
	size_t ids = n;
	for (size_t i = 0; i < n; i++)
		ids += m[i].k->nrefs;
	for (f->slots = 16; f->slots < 2 * ids; f->slots *= 2)
		;
	f->key = xcalloc(f->slots, sizeof(*f->key));
	f->val = xcalloc(f->slots, sizeof(*f->val));
	for (size_t i = 0; i < n; i++) {
		const struct imap_sortkeys *k = m[i].k;
		size_t c = k->msgid != NULL ? node_of(f, k->msgid) : NONE;
		if (c == NONE || f->v[c].msg != NONE)
			c = node_new(f, NONE); /* no Message-ID, or one seen before: a new one */
		f->v[c].msg = i;
		size_t prev = NONE;
		for (size_t r = 0; r < k->nrefs; r++) { /* 1A */
			size_t rc = node_of(f, k->refs[r]);
			if (rc == c)
				continue; /* a message naming itself says nothing of its place */
			if (prev != NONE && f->v[rc].parent == NONE && !under(f, prev, rc))
				link_child(f, prev, rc);
			prev = rc;
		}
		if (prev != NONE) { /* 1B */
			unlink_node(f, c);
			if (!under(f, prev, c))
				link_child(f, prev, c);
		}
	}
}

/* Nodes in an order where every node comes after its parent (a walk from the roots). */
static size_t *preorder(const struct forest *f, const size_t *roots, size_t nroots, size_t *count)
{
	size_t *out = xcalloc(f->n ? f->n : 1, sizeof(*out)),
	       *stack = xcalloc(f->n ? f->n : 1, sizeof(*stack));
	size_t k = 0, sp = 0;
	for (size_t r = 0; r < nroots; r++) {
		stack[sp++] = roots[r];
		while (sp > 0) {
			size_t x = stack[--sp];
			out[k++] = x;
			for (size_t c = f->v[x].child; c != NONE; c = f->v[c].next)
				stack[sp++] = c;
		}
	}
	free(stack);
	*count = k;
	return out;
}

/* Step 4 for one node's children: empty dummies go, dummies with children give them
 * to this level. Run children first (reverse preorder), so the children it splices in
 * are already pruned. */
static void prune_children(struct forest *f, size_t p)
{
	size_t *at = &f->v[p].child;
	while (*at != NONE) {
		size_t c = *at;
		if (f->v[c].msg != NONE) {
			at = &f->v[c].next;
			continue;
		}
		size_t after = f->v[c].next, kid = f->v[c].child;
		if (kid == NONE) {
			*at = after;
			continue;
		}
		*at = kid;
		size_t last = kid;
		for (size_t x = kid; x != NONE; x = f->v[x].next) {
			f->v[x].parent = p;
			last = x;
		}
		f->v[last].next = after;
		f->v[c].child = NONE;
	}
}

/* Steps 2 and 4: the root set, pruned. */
static size_t *root_set(struct forest *f, size_t *nroots)
{
	size_t *roots = xcalloc(f->n ? f->n : 1, sizeof(*roots)), n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].parent == NONE)
			roots[n++] = i;
	size_t cnt, *order = preorder(f, roots, n, &cnt);
	for (size_t i = cnt; i-- > 0;)
		prune_children(f, order[i]);
	free(order);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = roots[i];
		if (f->v[r].msg != NONE) {
			roots[k++] = r;
			continue;
		}
		size_t kid = f->v[r].child;
		if (kid == NONE)
			continue;
		if (f->v[kid].next == NONE) { /* a dummy root with one child: the child is a root */
			f->v[kid].parent = NONE;
			f->v[r].child = NONE;
			roots[k++] = kid;
		} else {
			roots[k++] = r;
		}
	}
	*nroots = k;
	return roots;
}

/* ---- step 5: roots with the same base subject ---- */

static const struct imap_sortkeys *keys_of(const struct forest *f, const struct imap_thread_msg *m, size_t x)
{
	if (f->v[x].msg == NONE)
		x = f->v[x].child;
	return x != NONE && f->v[x].msg != NONE ? m[f->v[x].msg].k : NULL;
}

static void append_children(struct forest *f, size_t to, size_t from)
{
	size_t *at = &f->v[to].child;
	while (*at != NONE)
		at = &f->v[*at].next;
	*at = f->v[from].child;
	for (size_t x = f->v[from].child; x != NONE; x = f->v[x].next)
		f->v[x].parent = to;
	f->v[from].child = NONE;
}

/* Merges root r into root t (same subject); returns the root that stands for both. */
static size_t merge(struct forest *f, const struct imap_thread_msg *m, size_t t, size_t r)
{
	bool tdummy = f->v[t].msg == NONE, rdummy = f->v[r].msg == NONE;
	if (tdummy && rdummy) {
		append_children(f, t, r);
		return t;
	}
	if (tdummy || rdummy) {
		size_t d = tdummy ? t : r, x = tdummy ? r : t;
		link_child(f, d, x);
		return d;
	}
	bool treply = m[f->v[t].msg].k->reply, rreply = m[f->v[r].msg].k->reply;
	if (!treply && rreply) {
		link_child(f, t, r);
		return t;
	}
	if (treply && !rreply) {
		link_child(f, r, t);
		return r;
	}
	size_t d = node_new(f, NONE);
	link_child(f, d, r);
	link_child(f, d, t);
	return d;
}

static void group_subjects(struct forest *f, const struct imap_thread_msg *m, size_t *roots, size_t *nroots)
{
	size_t n = *nroots, slots = 16;
	while (slots < 2 * n + 2)
		slots *= 2;
	size_t *tab = xcalloc(slots, sizeof(*tab)); /* root index + 1, 0 = empty */
	/* A: one root per subject; a dummy, else a non-reply, wins the slot (B) */
	for (size_t i = 0; i < n; i++) {
		const struct imap_sortkeys *k = keys_of(f, m, roots[i]);
		if (k == NULL || k->subject[0] == '\0')
			continue;
		size_t h = (size_t)hash(k->subject) & (slots - 1);
		while (tab[h] != 0 && strcmp(keys_of(f, m, roots[tab[h] - 1])->subject, k->subject) != 0)
			h = (h + 1) & (slots - 1);
		if (tab[h] == 0) {
			tab[h] = i + 1;
			continue;
		}
		size_t t = roots[tab[h] - 1];
		bool tdummy = f->v[t].msg == NONE, idummy = f->v[roots[i]].msg == NONE;
		if ((idummy && !tdummy) || (!tdummy && !idummy && keys_of(f, m, t)->reply && !k->reply))
			tab[h] = i + 1;
	}
	/* C: every other root of that subject joins the one in the table */
	size_t k = 0;
	bool *gone = xcalloc(n ? n : 1, sizeof(*gone));
	for (size_t i = 0; i < n; i++) {
		const struct imap_sortkeys *ks = keys_of(f, m, roots[i]);
		if (ks == NULL || ks->subject[0] == '\0')
			continue;
		size_t h = (size_t)hash(ks->subject) & (slots - 1);
		while (strcmp(keys_of(f, m, roots[tab[h] - 1])->subject, ks->subject) != 0)
			h = (h + 1) & (slots - 1);
		size_t ti = tab[h] - 1;
		if (ti == i)
			continue;
		roots[ti] = merge(f, m, roots[ti], roots[i]);
		gone[i] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (!gone[i])
			roots[k++] = roots[i];
	*nroots = k;
	free(gone);
	free(tab);
}

/* ---- step 6: siblings by date, then mailbox order ---- */

static int by_date(const struct node *a, const struct node *b)
{
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_nodes(const void *a, const void *b, void *arg)
{
	const struct forest *f = arg;
	return by_date(&f->v[*(const size_t *)a], &f->v[*(const size_t *)b]);
}

static void sort_children(struct forest *f, size_t p, size_t **tmp, size_t *tmpcap)
{
	size_t k = 0;
	for (size_t c = f->v[p].child; c != NONE; c = f->v[c].next) {
		if (k == *tmpcap) {
			*tmpcap = *tmpcap ? *tmpcap * 2 : 16;
			*tmp = xrealloc(*tmp, *tmpcap * sizeof(**tmp));
		}
		(*tmp)[k++] = c;
	}
	if (k == 0)
		return;
	qsort_r(*tmp, k, sizeof(**tmp), cmp_nodes, f);
	f->v[p].child = (*tmp)[0];
	for (size_t i = 0; i < k; i++)
		f->v[(*tmp)[i]].next = i + 1 < k ? (*tmp)[i + 1] : NONE;
	if (f->v[p].msg == NONE) {
		f->v[p].date = f->v[(*tmp)[0]].date;
		f->v[p].seq = f->v[(*tmp)[0]].seq;
	}
}

static void sort_all(struct forest *f, const struct imap_thread_msg *m, size_t *roots, size_t nroots)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].msg != NONE) {
			f->v[i].date = m[f->v[i].msg].date;
			f->v[i].seq = f->v[i].msg;
		}
	size_t cnt, *order = preorder(f, roots, nroots, &cnt), *tmp = NULL, tmpcap = 0;
	for (size_t i = cnt; i-- > 0;)
		sort_children(f, order[i], &tmp, &tmpcap);
	free(tmp);
	free(order);
	qsort_r(roots, nroots, sizeof(*roots), cmp_nodes, f);
}

/* ---- the answer ---- */

#define OPEN ((size_t)-2)
#define CLOSE ((size_t)-3)

static void put(struct buf *out, char c)
{
	bool after_num = out->len > 0 && out->data[out->len - 1] >= '0' && out->data[out->len - 1] <= '9';
	if (after_num && c == '(')
		buf_put_char(out, ' ');
	buf_put_char(out, c);
}

static void write_forest(const struct forest *f, const struct imap_thread_msg *m, const size_t *roots,
                         size_t nroots, struct buf *out)
{
	size_t cap = 3 * f->n + 3 * nroots + 1, sp = 0;
	size_t *stack = xcalloc(cap, sizeof(*stack));
	for (size_t r = nroots; r-- > 0;) {
		stack[sp++] = CLOSE;
		stack[sp++] = roots[r];
		stack[sp++] = OPEN;
	}
	while (sp > 0) {
		size_t x = stack[--sp];
		if (x == OPEN || x == CLOSE) {
			put(out, x == OPEN ? '(' : ')');
			continue;
		}
		if (f->v[x].msg != NONE) {
			if (out->len > 0 && out->data[out->len - 1] != '(')
				buf_put_char(out, ' ');
			buf_put_printf(out, "%u", m[f->v[x].msg].num);
		}
		size_t kid = f->v[x].child;
		if (kid == NONE)
			continue;
		if (f->v[kid].next == NONE && f->v[x].msg != NONE) {
			stack[sp++] = kid; /* one child continues the line */
			continue;
		}
		size_t k = 0;
		for (size_t c = kid; c != NONE; c = f->v[c].next)
			k++;
		sp += 3 * k;
		size_t at = sp;
		for (size_t c = kid; c != NONE; c = f->v[c].next) { /* pushed so the first pops first */
			stack[--at] = OPEN;
			stack[--at] = c;
			stack[--at] = CLOSE;
		}
	}
	free(stack);
}

static void forest_free(struct forest *f)
{
	free(f->v);
	free(f->key);
	free(f->val);
}

void imap_thread_references(const struct imap_thread_msg *m, size_t n, struct buf *out)
{
	struct forest f = {0};
	build(&f, m, n);
	size_t nroots, *roots = root_set(&f, &nroots);
	group_subjects(&f, m, roots, &nroots);
	sort_all(&f, m, roots, nroots);
	write_forest(&f, m, roots, nroots, out);
	free(roots);
	forest_free(&f);
}

/* ---- ORDEREDSUBJECT ---- */

static int cmp_subject(const void *a, const void *b, void *arg)
{
	const struct imap_thread_msg *m = arg;
	const struct imap_thread_msg *x = &m[*(const size_t *)a], *y = &m[*(const size_t *)b];
	int c = strcmp(x->k->subject, y->k->subject);
	if (c != 0)
		return c;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

void imap_thread_orderedsubject(const struct imap_thread_msg *m, size_t n, struct buf *out)
{
	/* each subject's earliest message is the parent of the others (RFC 5256 4) */
	struct forest f = {0};
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx)), *roots = xcalloc(n ? n : 1, sizeof(*roots)),
	       nroots = 0;
	for (size_t i = 0; i < n; i++) {
		idx[i] = i;
		node_new(&f, i);
	}
	qsort_r(idx, n, sizeof(*idx), cmp_subject, (void *)m);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1, last = NONE;
		while (j < n && strcmp(m[idx[j]].k->subject, m[idx[i]].k->subject) == 0) {
			/* children kept in date order: link at the end */
			size_t c = idx[j];
			f.v[c].parent = idx[i];
			if (last == NONE)
				f.v[idx[i]].child = c;
			else
				f.v[last].next = c;
			last = c;
			j++;
		}
		roots[nroots++] = idx[i];
		i = j;
	}
	for (size_t i = 0; i < n; i++) {
		f.v[i].date = m[i].date;
		f.v[i].seq = i;
	}
	qsort_r(roots, nroots, sizeof(*roots), cmp_nodes, &f);
	write_forest(&f, m, roots, nroots, out);
	free(idx);
	free(roots);
	forest_free(&f);
}

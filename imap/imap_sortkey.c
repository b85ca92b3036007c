/* imap_sortkey.c: the base subject (RFC 5256 2.1), address keys (RFC 5256 3, RFC 5957)
 * and message identifiers (RFC 5256 3 step 1) of a header block. */
#include "imap/imap_sortkey.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_address.h"
#include "imap/imap_header.h"
#include "imap/imap_msgsearch.h"

/* ---- base subject (RFC 5256 2.1) ---- */

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP; returns its length at s, 0 when none. */
static size_t blob_len(const char *s, size_t n)
{
	if (n == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < n && s[i] != '[' && s[i] != ']')
		i++;
	if (i == n || s[i] != ']')
		return 0;
	i++;
	while (i < n && wsp(s[i]))
		i++;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; its length, 0 when none. */
static size_t refwd_len(const char *s, size_t n)
{
	size_t i;
	if (n >= 2 && strncasecmp(s, "re", 2) == 0)
		i = 2;
	else if (n >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (n >= 2 && strncasecmp(s, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < n && wsp(s[i]))
		i++;
	i += blob_len(s + i, n - i);
	return i < n && s[i] == ':' ? i + 1 : 0;
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, removed as long as one is there. */
static size_t strip_leaders(const char *s, size_t n, bool *reply)
{
	size_t at = 0;
	for (;;) {
		if (at < n && wsp(s[at])) {
			at++;
			continue;
		}
		size_t i = at, b;
		while ((b = blob_len(s + i, n - i)) > 0)
			i += b;
		size_t r = refwd_len(s + i, n - i);
		if (r == 0)
			return at;
		at = i + r;
		*reply = true;
	}
}

/* One pass of steps 2 to 6 on s[*a, *b); returns true when step 6 unwrapped a
 * "[fwd: ...]" (start again at step 2). */
static bool base_pass(const char *s, size_t *a, size_t *b, bool *reply)
{
	/* 2: subj-trailer = "(fwd)" / WSP */
	for (;;) {
		if (*b > *a && wsp(s[*b - 1]))
			(*b)--;
		else if (*b - *a >= 5 && strncasecmp(s + *b - 5, "(fwd)", 5) == 0) {
			*b -= 5;
			*reply = true;
		} else
			break;
	}
	for (bool changed = true; changed;) { /* 5: repeat 3 and 4 until nothing changes */
		changed = false;
		size_t l = strip_leaders(s + *a, *b - *a, reply);
		if (l > 0) {
			*a += l;
			changed = true;
		}
		/* 4: a leading subj-blob goes when something remains after it */
		size_t bl = blob_len(s + *a, *b - *a);
		if (bl > 0 && *a + bl < *b) {
			*a += bl;
			changed = true;
		}
	}
	/* 6: subj-fwd = "[fwd:" subj-base "]" */
	if (*b - *a >= 6 && strncasecmp(s + *a, "[fwd:", 5) == 0 && s[*b - 1] == ']') {
		*a += 5;
		(*b)--;
		*reply = true;
		return true;
	}
	return false;
}

bool imap_base_subject(const char *value, size_t len, struct buf *out)
{
	/* 1: encoded words to UTF-8, folding and tabs to spaces, runs of spaces to one */
	struct buf dec, sp;
	buf_init(&dec, BUF_UNLIMITED);
	buf_init(&sp, BUF_UNLIMITED);
	imap_decode_words(value, len, &dec);
	for (size_t i = 0; i < dec.len; i++) {
		char c = dec.data[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && sp.len > 0 && sp.data[sp.len - 1] == ' ')
			continue;
		buf_put_char(&sp, c);
	}
	bool reply = false;
	size_t a = 0, b = sp.len;
	while (base_pass(sp.data != NULL ? sp.data : "", &a, &b, &reply))
		;
	for (size_t i = a; i < b; i++)
		buf_put_char(out, (char)toupper((unsigned char)sp.data[i]));
	buf_free(&dec);
	buf_free(&sp);
	return reply;
}

/* ---- addresses ---- */

static char *upper_dup(const char *s)
{
	char *u = xstrdup(s != NULL ? s : "");
	for (char *p = u; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

/* RFC 5256 3: the local part of the first address ("" when there is none). */
static char *addr_key(const char *value)
{
	if (value == NULL)
		return xstrdup("");
	struct imap_address_list l = {0};
	imap_address_parse(value, strlen(value), &l);
	char *k = upper_dup(l.n > 0 ? l.v[0].mailbox : "");
	imap_address_list_free(&l);
	return k;
}

/* RFC 5957: the first address's display name (decoded), else its addr-spec. */
static char *display_key(const char *value)
{
	if (value == NULL)
		return xstrdup("");
	struct imap_address_list l = {0};
	imap_address_parse(value, strlen(value), &l);
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	if (l.n > 0 && l.v[0].name != NULL && l.v[0].name[0] != '\0') {
		imap_decode_words(l.v[0].name, strlen(l.v[0].name), &b);
	} else if (l.n > 0) {
		buf_put_str(&b, l.v[0].mailbox != NULL ? l.v[0].mailbox : "");
		if (l.v[0].domain != NULL && l.v[0].domain[0] != '\0')
			buf_put_printf(&b, "@%s", l.v[0].domain);
	}
	char *k = upper_dup(b.data);
	buf_free(&b);
	imap_address_list_free(&l);
	return k;
}

/* ---- message identifiers ---- */

/* The next "<...>" of s from *at, without brackets and white space; NULL at the end.
 * An empty "<>" is skipped. */
static char *next_id(const char *s, size_t *at)
{
	for (;;) {
		const char *lt = strchr(s + *at, '<');
		const char *gt = lt != NULL ? strchr(lt + 1, '>') : NULL;
		if (gt == NULL)
			return NULL;
		*at = (size_t)(gt + 1 - s);
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		for (const char *p = lt + 1; p < gt; p++)
			if (!isspace((unsigned char)*p))
				buf_put_char(&b, *p);
		char *id = b.len > 0 ? buf_strdup(&b) : NULL;
		buf_free(&b);
		if (id != NULL)
			return id;
	}
}

static void read_refs(const char *refs, const char *irt, struct imap_sortkeys *k)
{
	size_t at = 0;
	char *id;
	while (refs != NULL && k->nrefs < IMAP_THREAD_REFS_MAX && (id = next_id(refs, &at)) != NULL) {
		k->refs = xrealloc(k->refs, (k->nrefs + 1) * sizeof(*k->refs));
		k->refs[k->nrefs++] = id;
	}
	at = 0;
	if (k->nrefs == 0 && irt != NULL && (id = next_id(irt, &at)) != NULL) {
		k->refs = xcalloc(1, sizeof(*k->refs));
		k->refs[k->nrefs++] = id;
	}
}

void imap_sortkeys_read(const char *header, size_t len, struct imap_sortkeys *k)
{
	memset(k, 0, sizeof(*k));
	char *subject = imap_header_get(header, len, "Subject");
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	k->reply = subject != NULL && imap_base_subject(subject, strlen(subject), &b);
	k->subject = xstrdup(b.data != NULL ? b.data : "");
	buf_free(&b);
	free(subject);

	char *from = imap_header_get(header, len, "From"), *to = imap_header_get(header, len, "To");
	char *cc = imap_header_get(header, len, "Cc");
	k->from = addr_key(from);
	k->to = addr_key(to);
	k->cc = addr_key(cc);
	k->dfrom = display_key(from);
	k->dto = display_key(to);
	free(from);
	free(to);
	free(cc);

	char *mid = imap_header_get(header, len, "Message-ID"),
	     *refs = imap_header_get(header, len, "References");
	char *irt = imap_header_get(header, len, "In-Reply-To");
	size_t at = 0;
	k->msgid = mid != NULL ? next_id(mid, &at) : NULL;
	read_refs(refs, irt, k);
	free(mid);
	free(refs);
	free(irt);
}

void imap_sortkeys_free(struct imap_sortkeys *k)
{
	free(k->subject);
	free(k->from);
	free(k->to);
	free(k->cc);
	free(k->dfrom);
	free(k->dto);
	free(k->msgid);
	for (size_t i = 0; i < k->nrefs; i++)
		free(k->refs[i]);
	free(k->refs);
	memset(k, 0, sizeof(*k));
}

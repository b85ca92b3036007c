/* vault_folder.h: the folders the vault writes in a patient's account (Profil,
 * Constantes, Vaccinations; DESIGN.md "The medical profile, vital signs and vaccination
 * book"): a message appended to one (the folder made on first use), a message read
 * back, and the one machine header each message carries (X-MSS-Profile, X-MSS-Vital,
 * X-MSS-Vaccination) read from its header. One writer for the three, so that they
 * store alike: \Seen (the patient wrote it), internal date = when it happened. */
#ifndef MSS_VAULT_FOLDER_H
#define MSS_VAULT_FOLDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct buf;

/* One message of these folders: a French text and a FHIR JSON attachment beside it. */
struct vault_folder_msg {
	const char *patient; /* From and To: the patient wrote it */
	const char *zone;    /* the configured timezone, for the Date */
	int64_t when;        /* its Date */
	const char *subject; /* UTF-8 */
	const char *id_kind; /* Message-ID "<kind.<random>@<patient's domain>>" */
	const char *mark;    /* the machine header's name ("X-MSS-Vital") */
	const char *mark_value;
	const char *text;      /* the text/plain part */
	const char *json;      /* the application/fhir+json attachment */
	const char *json_file; /* its file name */
};

/* The FHIR R4 Bundle (type collection, timestamp when) of resources (a JSON array of
 * resources, taken: freed here whatever happens), as indented ASCII JSON text to free;
 * NULL when resources is NULL or memory runs out. */
char *vault_folder_bundle(json_t *resources, int64_t when);

/* Appends the message m describes to b (RFC 5322, CRLF, encoded words where needed).
 * Returns 0, or -1 when a part does not fit. */
int vault_folder_build(struct buf *b, const struct vault_folder_msg *m);

/* Appends data (a whole message) to user's mailbox, creating it when missing, flagged
 * \Seen, with the keyword $Masked when masked (a new version of what the patient masked
 * from professionals stays masked), internal date when. Returns 0 with *uid, or -1
 * with err. */
int vault_folder_append(struct store *st, const char *user, const char *mailbox, const char *data, size_t len,
                        bool masked, int64_t when, uint32_t *uid, char *err, size_t errlen);

/* true when a message's keywords (space-separated) hold $Masked, in any case. */
bool vault_folder_masked(const char *keywords);

/* Up to max bytes of message uid of mailbox mbid into out, NUL-terminated (the NUL
 * counted in out->len). Returns 1, 0 when the message is gone, -1 on a store error. */
int vault_folder_read(struct store *st, int64_t mbid, uint32_t uid, size_t max, struct buf *out);

/* The value of the first header field called name (e.g. "X-MSS-Vital", without the
 * colon) of message uid, read from its header (at most 64 KiB), unfolded, blanks around it
 * dropped, into out. Returns 1, 0 when the message or the field is missing or the
 * value does not fit, -1 on a store error. */
int vault_folder_header(struct store *st, int64_t mbid, uint32_t uid, const char *name, char *out,
                        size_t outlen);

#endif

/* crypto.c: lib/crypto.h on libsodium.
 *
 * Blob file format (version 1):
 *   "MSSB1" | secretstream header (24 bytes) | chunk*
 * Every chunk but the last holds exactly BLOB_CHUNK plaintext bytes (so BLOB_CHUNK +
 * ABYTES on disk) tagged MESSAGE; the last holds 0..BLOB_CHUNK bytes tagged FINAL.
 * The fixed size lets the reader find chunk boundaries without a length field an
 * attacker could alter; the FINAL tag detects truncation at a chunk boundary, and
 * bytes after it are refused. */

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/fd_io.h"
#include "lib/str.h"

#define SS_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define SS_TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL
#define BLOB_MAGIC "MSSB1"
#define BLOB_MAGIC_LEN 5
#define BLOB_CHUNK 65536
#define WRAP_BIN_LEN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + CRYPTO_KEY_LEN)

_Static_assert(CRYPTO_KEY_LEN == crypto_secretstream_xchacha20poly1305_KEYBYTES, "key size");
_Static_assert(CRYPTO_KEY_LEN == crypto_secretbox_KEYBYTES, "wrap key size");
_Static_assert(CRYPTO_HASH_STR_LEN == crypto_pwhash_STRBYTES, "hash string size");
#define WRAP2_BIN_LEN                                                                                        \
	(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + CRYPTO_KEY_LEN +                                     \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define WRAP2_PREFIX_LEN (sizeof(CRYPTO_WRAPPED_PREFIX) - 1)
/* An address as the associated data: at most 255 octets, lowercased (str_lower). */
#define WRAP_ACCOUNT_MAX 256
_Static_assert(CRYPTO_WRAPPED_V1_HEX_LEN == 2 * WRAP_BIN_LEN + 1, "wrapped key size (first format)");
_Static_assert(CRYPTO_WRAPPED_HEX_LEN == WRAP2_PREFIX_LEN + 2 * WRAP2_BIN_LEN + 1, "wrapped key size");

/* Argon2id with the interactive limits of a random password: same cost as a real
 * verification, so an unknown user takes as long as a known one. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$U1Au53Bi9jpOOU/Ml5KV3Q$2lnnP0RD3BOFonmk7HXqytv6tNkylWKrHwEbUUG4A9Q";

struct blob_writer {
	int fd;
	char *tmp_path;
	char *final_path;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char plain[BLOB_CHUNK]; /* only plain[0..used) ever holds bytes (writer_push) */
	size_t used;
	unsigned char cipher[BLOB_CHUNK + SS_ABYTES];
	size_t cipher_used; /* the most of cipher a chunk has filled */
	bool failed;        /* a chunk was lost: commit must not publish the file */
};

int crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/* ---- passwords ---- */

int crypto_password_hash(const char *password, char out[CRYPTO_HASH_STR_LEN])
{
	return crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                             crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) == 0
	           ? 0
	           : -1;
}

bool crypto_password_verify(const char *hash, const char *password)
{
	/* libsodium reads the hash as a char[crypto_pwhash_STRBYTES]: hand it one. */
	char h[CRYPTO_HASH_STR_LEN] = {0};

	if (!hash || !password || str_copy(h, sizeof(h), hash) < 0)
		return false;
	return crypto_pwhash_str_verify(h, password, strlen(password)) == 0;
}

bool crypto_password_verify_dummy(const char *password)
{
	(void)crypto_password_verify(dummy_hash, password ? password : "");
	return false;
}

/* ---- file helpers ---- */

/* Reads up to n bytes, stopping early only at EOF. Returns the count or -1. */
static ssize_t read_full(int fd, void *p, size_t n)
{
	unsigned char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The directory part of path ("." when it has none), malloc'ed. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int crypto_fsync_dir_of(const char *path)
{
	char *dir = dir_of(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;

	free(dir);
	if (fd < 0)
		return -1;
	if (fsync(fd) == 0)
		rc = 0;
	close(fd);
	return rc;
}

/* mkdir -p of the directory holding path (mode 0700), fsyncing the parent of every
 * directory it creates so the new entries survive a crash. */
static int make_parent_dirs(const char *path)
{
	char *dir = dir_of(path);
	size_t i, len = strlen(dir);
	int rc = 0;

	for (i = 1; i <= len && rc == 0; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0700) == 0)
			rc = crypto_fsync_dir_of(dir);
		else if (errno != EEXIST)
			rc = -1;
		if (i < len)
			dir[i] = '/';
	}
	free(dir);
	return rc;
}

/* ---- master key and key wrapping ---- */

int crypto_master_key_create(const char *path, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0) {
		str_error(err, errlen, "cannot create master key file %s: %s", path, strerror(errno));
		return -1;
	}
	randombytes_buf(key, sizeof(key));
	if (fchmod(fd, 0400) < 0 || fd_write_all(fd, key, sizeof(key)) < 0 || fsync(fd) < 0) {
		str_error(err, errlen, "cannot write master key file %s: %s", path, strerror(errno));
		rc = -1;
	}
	sodium_memzero(key, sizeof(key));
	if (close(fd) < 0 && rc == 0) {
		str_error(err, errlen, "cannot write master key file %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		(void)unlink(path);
	else
		(void)crypto_fsync_dir_of(path);
	return rc;
}

/* Checks the key file is a regular file of exactly the key's size that only its
 * owner can read or change. */
static int master_key_check(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		str_error(err, errlen, "cannot stat master key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		str_error(err, errlen, "master key file %s is not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		str_error(err, errlen,
		          "master key file %s is accessible by group or others (mode %03o, want 400)", path,
		          (unsigned)(st.st_mode & 0777));
		return -1;
	}
	if (st.st_size != CRYPTO_KEY_LEN) {
		str_error(err, errlen, "master key file %s has the wrong size (%lld bytes, want %d)", path,
		          (long long)st.st_size, CRYPTO_KEY_LEN);
		return -1;
	}
	return 0;
}

int crypto_master_key_load(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = -1;

	if (fd < 0) {
		str_error(err, errlen, "cannot open master key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (master_key_check(fd, path, err, errlen) == 0) {
		if (read_full(fd, key, CRYPTO_KEY_LEN) == CRYPTO_KEY_LEN)
			rc = 0;
		else
			str_error(err, errlen, "cannot read master key file %s", path);
	}
	close(fd);
	if (rc < 0)
		sodium_memzero(key, CRYPTO_KEY_LEN);
	return rc;
}

void crypto_key_generate(unsigned char key[CRYPTO_KEY_LEN])
{
	crypto_secretstream_xchacha20poly1305_keygen(key);
}

int crypto_key_wrap_v1(const unsigned char master[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                       char out_hex[CRYPTO_WRAPPED_V1_HEX_LEN])
{
	unsigned char bin[WRAP_BIN_LEN];
	int rc = 0;

	randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
	if (crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, key, CRYPTO_KEY_LEN, bin, master) != 0)
		rc = -1;
	else
		sodium_bin2hex(out_hex, CRYPTO_WRAPPED_V1_HEX_LEN, bin, sizeof(bin));
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

/* The associated data of a wrap: the address lowercased, as store_users keeps it. */
static int wrap_account(const char *account, char ad[WRAP_ACCOUNT_MAX])
{
	if (account == NULL || account[0] == '\0' || str_copy(ad, WRAP_ACCOUNT_MAX, account) != 0)
		return -1;
	str_lower(ad);
	return 0;
}

int crypto_key_wrap(const unsigned char master[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN],
                    const char *account, char out_hex[CRYPTO_WRAPPED_HEX_LEN])
{
	const size_t nonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char bin[WRAP2_BIN_LEN];
	char ad[WRAP_ACCOUNT_MAX];
	unsigned long long clen = 0;
	int rc = -1;

	if (wrap_account(account, ad) < 0)
		return -1;
	randombytes_buf(bin, nonce);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(bin + nonce, &clen, key, CRYPTO_KEY_LEN,
	                                               (const unsigned char *)ad, strlen(ad), NULL, bin,
	                                               master) == 0 &&
	    clen == WRAP2_BIN_LEN - nonce) {
		memcpy(out_hex, CRYPTO_WRAPPED_PREFIX, WRAP2_PREFIX_LEN);
		sodium_bin2hex(out_hex + WRAP2_PREFIX_LEN, CRYPTO_WRAPPED_HEX_LEN - WRAP2_PREFIX_LEN, bin,
		               sizeof(bin));
		rc = 0;
	}
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

_Static_assert(CRYPTO_RECORD_OVERHEAD ==
                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "record overhead");
_Static_assert(CRYPTO_KEY_LEN == crypto_kdf_KEYBYTES, "subkey size");

void crypto_subkey(unsigned char out[CRYPTO_KEY_LEN], const unsigned char key[CRYPTO_KEY_LEN], uint64_t id,
                   const char ctx[8])
{
	(void)crypto_kdf_derive_from_key(out, CRYPTO_KEY_LEN, id, ctx, key);
}

int crypto_record_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *ad, const void *p, size_t n,
                       struct buf *out)
{
	const size_t nonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	if (n > BUF_UNLIMITED - CRYPTO_RECORD_OVERHEAD || buf_reserve(out, n + CRYPTO_RECORD_OVERHEAD) < 0)
		return -1;
	unsigned char *r = (unsigned char *)out->data + out->len;
	unsigned long long clen = 0;
	randombytes_buf(r, nonce);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(r + nonce, &clen, p, n, (const unsigned char *)ad,
	                                               strlen(ad), NULL, r, key) != 0)
		return -1;
	buf_added(out, nonce + (size_t)clen);
	return 0;
}

int crypto_record_open(const unsigned char key[CRYPTO_KEY_LEN], const char *ad, const void *p, size_t n,
                       struct buf *out)
{
	const size_t nonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const unsigned char *r = p;
	if (n < CRYPTO_RECORD_OVERHEAD || buf_reserve(out, n - CRYPTO_RECORD_OVERHEAD) < 0)
		return -1;
	unsigned long long mlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out->data + out->len, &mlen, NULL,
	                                               r + nonce, n - nonce, (const unsigned char *)ad,
	                                               strlen(ad), r, key) != 0)
		return -1;
	buf_added(out, (size_t)mlen);
	return 0;
}

int crypto_key_unwrap(const unsigned char master[CRYPTO_KEY_LEN], const char *wrapped_hex,
                      const char *account, unsigned char key[CRYPTO_KEY_LEN])
{
	const size_t nonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char bin[WRAP2_BIN_LEN];
	char ad[WRAP_ACCOUNT_MAX];
	size_t binlen = 0;
	const char *hex, *end = NULL;
	unsigned long long klen = 0;
	int rc = -1;

	if (!wrapped_hex || strlen(wrapped_hex) != CRYPTO_WRAPPED_HEX_LEN - 1 ||
	    strncmp(wrapped_hex, CRYPTO_WRAPPED_PREFIX, WRAP2_PREFIX_LEN) != 0 ||
	    wrap_account(account, ad) < 0) {
		sodium_memzero(key, CRYPTO_KEY_LEN);
		return -1;
	}
	hex = wrapped_hex + WRAP2_PREFIX_LEN;
	if (sodium_hex2bin(bin, sizeof(bin), hex, 2 * WRAP2_BIN_LEN, NULL, &binlen, &end) == 0 &&
	    binlen == WRAP2_BIN_LEN && end == hex + 2 * WRAP2_BIN_LEN &&
	    crypto_aead_xchacha20poly1305_ietf_decrypt(key, &klen, NULL, bin + nonce, WRAP2_BIN_LEN - nonce,
	                                               (const unsigned char *)ad, strlen(ad), bin,
	                                               master) == 0 &&
	    klen == CRYPTO_KEY_LEN)
		rc = 0;
	sodium_memzero(bin, sizeof(bin));
	if (rc < 0)
		sodium_memzero(key, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_key_unwrap_v1(const unsigned char master[CRYPTO_KEY_LEN], const char *wrapped_hex,
                         unsigned char key[CRYPTO_KEY_LEN])
{
	unsigned char bin[WRAP_BIN_LEN];
	size_t binlen = 0;
	const char *end = NULL;
	int rc = -1;

	if (!wrapped_hex || strlen(wrapped_hex) != 2 * WRAP_BIN_LEN)
		return -1;
	if (sodium_hex2bin(bin, sizeof(bin), wrapped_hex, 2 * WRAP_BIN_LEN, NULL, &binlen, &end) == 0 &&
	    binlen == WRAP_BIN_LEN && end == wrapped_hex + 2 * WRAP_BIN_LEN &&
	    crypto_secretbox_open_easy(key, bin + crypto_secretbox_NONCEBYTES,
	                               WRAP_BIN_LEN - crypto_secretbox_NONCEBYTES, bin, master) == 0)
		rc = 0;
	sodium_memzero(bin, sizeof(bin));
	if (rc < 0)
		sodium_memzero(key, CRYPTO_KEY_LEN);
	return rc;
}

void crypto_key_wipe(unsigned char key[CRYPTO_KEY_LEN])
{
	sodium_memzero(key, CRYPTO_KEY_LEN);
}

/* ---- blob writer ---- */

/* A writer with its buffers left as malloc gives them: 128 KiB, of which a 4 KiB
 * message touches two pages. Zeroing them all (calloc), then wiping them all again at
 * the end, made a fresh session process fault in and clear 32 pages per delivery for
 * nothing (issue 15): writer_free wipes what was written. */
static struct blob_writer *writer_new(void)
{
	struct blob_writer *w = xmalloc(sizeof(*w));

	w->fd = -1;
	w->tmp_path = NULL;
	w->final_path = NULL;
	w->used = 0;
	w->cipher_used = 0;
	w->failed = false;
	return w;
}

/* Wipes the stream state (it holds the key), the plaintext not yet pushed (writer_push
 * wipes each chunk it sends, so no byte of plain past used ever holds data) and the
 * ciphertext area chunks have filled. */
static void writer_free(struct blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp_path);
	free(w->final_path);
	sodium_memzero(&w->st, sizeof(w->st));
	sodium_memzero(w->plain, w->used);
	sodium_memzero(w->cipher, w->cipher_used);
	free(w);
}

/* Creates the temporary file next to final_path. Returns 0 or -1 with err. */
static int writer_open_tmp(struct blob_writer *w, char *err, size_t errlen)
{
	char *dir = dir_of(w->final_path);
	struct buf b;

	buf_init(&b, PATH_MAX - 1);
	int rc = buf_printf(&b, "%s/" CRYPTO_BLOB_TMP_PREFIX "XXXXXX", dir);
	free(dir);
	if (rc < 0) {
		buf_free(&b);
		str_error(err, errlen, "cannot create temporary blob for %s: path too long", w->final_path);
		return -1;
	}
	w->tmp_path = buf_strdup(&b);
	buf_free(&b);
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		str_error(err, errlen, "cannot create temporary blob for %s: %s", w->final_path,
		          strerror(errno));
		return -1;
	}
	return 0;
}

struct blob_writer *crypto_blob_create(const char *final_path, const unsigned char key[CRYPTO_KEY_LEN],
                                       char *err, size_t errlen)
{
	struct blob_writer *w = writer_new();
	unsigned char head[BLOB_MAGIC_LEN + SS_HEADER];

	w->final_path = xstrdup(final_path);
	if (make_parent_dirs(final_path) < 0) {
		str_error(err, errlen, "cannot create directory for %s: %s", final_path, strerror(errno));
		writer_free(w);
		return NULL;
	}
	if (writer_open_tmp(w, err, errlen) < 0) {
		writer_free(w);
		return NULL;
	}
	memcpy(head, BLOB_MAGIC, BLOB_MAGIC_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&w->st, head + BLOB_MAGIC_LEN, key);
	if (fd_write_all(w->fd, head, sizeof(head)) < 0) {
		str_error(err, errlen, "cannot write blob for %s: %s", final_path, strerror(errno));
		crypto_blob_abort(w);
		return NULL;
	}
	return w;
}

/* Encrypts the buffered plaintext as one chunk with tag and writes it. */
static int writer_push(struct blob_writer *w, unsigned char tag, char *err, size_t errlen)
{
	unsigned long long clen = 0;

	crypto_secretstream_xchacha20poly1305_push(&w->st, w->cipher, &clen, w->plain, w->used, NULL, 0, tag);
	sodium_memzero(w->plain, w->used);
	w->used = 0;
	if ((size_t)clen > w->cipher_used)
		w->cipher_used = (size_t)clen;
	if (w->failed || fd_write_all(w->fd, w->cipher, (size_t)clen) < 0) {
		w->failed = true;
		str_error(err, errlen, "cannot write blob for %s: %s", w->final_path, strerror(errno));
		return -1;
	}
	return 0;
}

int crypto_blob_write(struct blob_writer *w, const void *p, size_t n, char *err, size_t errlen)
{
	const unsigned char *c = p;

	while (n > 0) {
		size_t take;

		/* A full chunk goes out only once more data follows: the last chunk must
		 * carry the FINAL tag, and commit sends it. */
		if (w->used == BLOB_CHUNK && writer_push(w, SS_TAG_MESSAGE, err, errlen) < 0)
			return -1;
		take = BLOB_CHUNK - w->used;
		if (take > n)
			take = n;
		memcpy(w->plain + w->used, c, take);
		w->used += take;
		c += take;
		n -= take;
	}
	return 0;
}

int crypto_blob_commit(struct blob_writer *w, char *err, size_t errlen)
{
	int fd, synced, closed;

	if (writer_push(w, SS_TAG_FINAL, err, errlen) < 0)
		goto fail;
	fd = w->fd;
	w->fd = -1;
	synced = fsync(fd);
	closed = close(fd);
	if (synced < 0 || closed < 0) {
		str_error(err, errlen, "cannot sync blob for %s: %s", w->final_path, strerror(errno));
		goto fail;
	}
	if (rename(w->tmp_path, w->final_path) < 0) {
		str_error(err, errlen, "cannot rename blob to %s: %s", w->final_path, strerror(errno));
		goto fail;
	}
	if (crypto_fsync_dir_of(w->final_path) < 0) {
		str_error(err, errlen, "cannot sync directory of %s: %s", w->final_path, strerror(errno));
		writer_free(w);
		return -1;
	}
	writer_free(w);
	return 0;
fail:
	crypto_blob_abort(w);
	return -1;
}

void crypto_blob_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->tmp_path)
		(void)unlink(w->tmp_path);
	writer_free(w);
}

int crypto_blob_write_file(const char *final_path, const unsigned char key[CRYPTO_KEY_LEN], const void *p,
                           size_t n, char *err, size_t errlen)
{
	struct blob_writer *w = crypto_blob_create(final_path, key, err, errlen);

	if (!w)
		return -1;
	if (crypto_blob_write(w, p, n, err, errlen) < 0) {
		crypto_blob_abort(w);
		return -1;
	}
	return crypto_blob_commit(w, err, errlen);
}

size_t crypto_blob_sealed_size(size_t n)
{
	size_t chunks = n == 0 ? 1 : (n + BLOB_CHUNK - 1) / BLOB_CHUNK;
	return BLOB_MAGIC_LEN + SS_HEADER + chunks * SS_ABYTES + n;
}

/* Straight from p into out, chunk by chunk as crypto_blob_write cuts them (each full
 * chunk tagged MESSAGE while more follows, the last FINAL): no writer, whose staging
 * buffers (two chunks, 128 KiB) a blob of a few KiB would allocate, copy through, wipe
 * and free for every message delivered; nothing of the plaintext is copied. */
int crypto_blob_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *p, size_t n, struct buf *out,
                     char *err, size_t errlen)
{
	unsigned char head[BLOB_MAGIC_LEN + SS_HEADER];
	crypto_secretstream_xchacha20poly1305_state st;
	memcpy(head, BLOB_MAGIC, BLOB_MAGIC_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&st, head + BLOB_MAGIC_LEN, key);
	/* the whole blob's room at once: out is left as it was when it has not */
	if (buf_reserve(out, crypto_blob_sealed_size(n)) < 0 || buf_append(out, head, sizeof(head)) < 0) {
		sodium_memzero(&st, sizeof(st));
		str_error(err, errlen, "blob larger than its buffer's limit");
		return -1;
	}
	const unsigned char *c = p;
	for (size_t left = n;;) {
		size_t take = left < BLOB_CHUNK ? left : BLOB_CHUNK;
		unsigned char tag = take == left ? SS_TAG_FINAL : SS_TAG_MESSAGE;
		unsigned long long clen = 0;
		crypto_secretstream_xchacha20poly1305_push(&st, (unsigned char *)out->data + out->len, &clen,
		                                           c, take, NULL, 0, tag);
		buf_added(out, (size_t)clen);
		if (tag == SS_TAG_FINAL)
			break; /* before c moves: an empty blob's p may be NULL */
		c += take;
		left -= take;
	}
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* ---- blob reader ---- */

/* Where a blob's ciphertext comes from: a file, or bytes in memory (a blob kept in its
 * database row). */
struct blob_src {
	int fd; /* -1: mem */
	const unsigned char *mem;
	size_t len, pos;
};

/* Like read_full, from either kind of source. */
static ssize_t src_read(struct blob_src *s, void *p, size_t n)
{
	if (s->fd >= 0)
		return read_full(s->fd, p, n);
	size_t take = s->len - s->pos < n ? s->len - s->pos : n;
	if (take > 0)
		memcpy(p, s->mem + s->pos, take);
	s->pos += take;
	return (ssize_t)take;
}

static int reader_header(struct blob_src *src, crypto_secretstream_xchacha20poly1305_state *st,
                         const unsigned char key[CRYPTO_KEY_LEN])
{
	unsigned char head[BLOB_MAGIC_LEN + SS_HEADER];

	if (src_read(src, head, sizeof(head)) != (ssize_t)sizeof(head))
		return -1;
	if (memcmp(head, BLOB_MAGIC, BLOB_MAGIC_LEN) != 0)
		return -1;
	return crypto_secretstream_xchacha20poly1305_init_pull(st, head + BLOB_MAGIC_LEN, key) == 0 ? 0 : -1;
}

/* Decrypts the chunks after the header into out. Returns NULL, or why it failed. */
static const char *reader_chunks(struct blob_src *src, crypto_secretstream_xchacha20poly1305_state *st,
                                 struct buf *out, unsigned char *cipher)
{
	unsigned char tag = 0;

	while (tag != SS_TAG_FINAL) {
		unsigned long long mlen = 0;
		ssize_t n = src_read(src, cipher, BLOB_CHUNK + SS_ABYTES);

		if (n < 0)
			return "read error";
		if (n < (ssize_t)SS_ABYTES)
			return "truncated";
		if (buf_reserve(out, (size_t)n - SS_ABYTES) < 0)
			return "larger than the buffer limit";
		if (crypto_secretstream_xchacha20poly1305_pull(st, (unsigned char *)out->data + out->len,
		                                               &mlen, &tag, cipher, (unsigned long long)n,
		                                               NULL, 0) != 0)
			return "altered (authentication failed)";
		buf_added(out, (size_t)mlen);
		/* Only a full chunk may be followed by another one. */
		if (tag != SS_TAG_FINAL && (tag != SS_TAG_MESSAGE || n != BLOB_CHUNK + SS_ABYTES))
			return "truncated";
	}
	if (src_read(src, cipher, 1) != 0)
		return "has data after its end";
	return NULL;
}

/* Decrypts the whole blob src (named what in errors) into out. */
static int blob_read_src(struct blob_src *src, const char *what, const unsigned char key[CRYPTO_KEY_LEN],
                         struct buf *out, char *err, size_t errlen)
{
	crypto_secretstream_xchacha20poly1305_state st;
	size_t orig_len = out->len;

	if (reader_header(src, &st, key) < 0) {
		str_error(err, errlen, "blob %s: bad or truncated header", what);
		return -1;
	}
	unsigned char *cipher = xmalloc(BLOB_CHUNK + SS_ABYTES);
	const char *why = reader_chunks(src, &st, out, cipher);
	free(cipher);
	sodium_memzero(&st, sizeof(st));
	if (!why)
		return 0;
	/* Nothing unauthenticated or incomplete reaches the caller. */
	sodium_memzero(out->data + orig_len, out->len - orig_len);
	buf_truncate(out, orig_len);
	str_error(err, errlen, "blob %s: %s", what, why);
	return -1;
}

int crypto_blob_read(const char *path, const unsigned char key[CRYPTO_KEY_LEN], struct buf *out, char *err,
                     size_t errlen)
{
	struct blob_src src = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
	if (src.fd < 0) {
		str_error(err, errlen, "cannot open blob %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = blob_read_src(&src, path, key, out, err, errlen);
	close(src.fd);
	return rc;
}

int crypto_blob_read_mem(const void *p, size_t n, const char *what, const unsigned char key[CRYPTO_KEY_LEN],
                         struct buf *out, char *err, size_t errlen)
{
	struct blob_src src = {.fd = -1, .mem = p, .len = n};
	return blob_read_src(&src, what, key, out, err, errlen);
}

/* ---- streaming blob reader ---- */

struct blob_reader {
	struct blob_src src;
	unsigned char *copy; /* crypto_blob_open_mem: the reader's own copy of the bytes */
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char cipher[BLOB_CHUNK + SS_ABYTES];
	unsigned char plain[BLOB_CHUNK];
	bool done;
};

/* A reader on src (named what in errors), its header checked; NULL with err. */
static struct blob_reader *reader_start(struct blob_reader *r, const char *what,
                                        const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	if (reader_header(&r->src, &r->st, key) < 0) {
		str_error(err, errlen, "blob %s: bad or truncated header", what);
		crypto_blob_close(r);
		return NULL;
	}
	return r;
}

struct blob_reader *crypto_blob_open(const char *path, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                                     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		str_error(err, errlen, "cannot open blob %s: %s", path, strerror(errno));
		return NULL;
	}
	struct blob_reader *r = xcalloc(1, sizeof(*r));
	r->src.fd = fd;
	return reader_start(r, path, key, err, errlen);
}

struct blob_reader *crypto_blob_open_mem(const void *p, size_t n, const char *what,
                                         const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	struct blob_reader *r = xcalloc(1, sizeof(*r));
	r->copy = xmalloc(n > 0 ? n : 1);
	if (n > 0)
		memcpy(r->copy, p, n);
	r->src = (struct blob_src){.fd = -1, .mem = r->copy, .len = n};
	return reader_start(r, what, key, err, errlen);
}

int crypto_blob_next(struct blob_reader *r, const unsigned char **p, size_t *n, char *err, size_t errlen)
{
	unsigned char tag = 0;
	unsigned long long mlen = 0;
	if (r->done) {
		*n = 0;
		return 0;
	}
	ssize_t got = src_read(&r->src, r->cipher, sizeof(r->cipher));
	const char *why = NULL;
	if (got < (ssize_t)SS_ABYTES)
		why = got < 0 ? "read error" : "truncated";
	else if (crypto_secretstream_xchacha20poly1305_pull(&r->st, r->plain, &mlen, &tag, r->cipher,
	                                                    (unsigned long long)got, NULL, 0) != 0)
		why = "altered (authentication failed)";
	else if (tag != SS_TAG_FINAL && (tag != SS_TAG_MESSAGE || got != (ssize_t)sizeof(r->cipher)))
		why = "truncated"; /* only a full chunk may be followed by another */
	else if (tag == SS_TAG_FINAL && src_read(&r->src, r->cipher, 1) != 0)
		why = "has data after its end";
	if (why != NULL) {
		str_error(err, errlen, "blob: %s", why);
		return -1;
	}
	r->done = tag == SS_TAG_FINAL;
	*p = r->plain;
	*n = (size_t)mlen;
	return 1;
}

void crypto_blob_close(struct blob_reader *r)
{
	if (r == NULL)
		return;
	if (r->src.fd >= 0)
		close(r->src.fd);
	free(r->copy); /* ciphertext: nothing to wipe */
	sodium_memzero(r, sizeof(*r));
	free(r);
}

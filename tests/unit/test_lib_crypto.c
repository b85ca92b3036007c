/* Unit tests for lib/crypto.c: passwords, master key, key wrapping, encrypted blobs. */

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "lib/str.h"

#define CHUNK 65536
#define HEAD 29 /* "MSSB1" + secretstream header */
#define ABYTES 17

static char tmpdir[256];

static int setup_dir(void **state)
{
	(void)state;
	assert_int_equal(str_copy(tmpdir, sizeof(tmpdir), "/tmp/test_lib_crypto.XXXXXX"), 0);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];

	if (!d) {
		(void)unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		assert_int_equal(str_format(sub, sizeof(sub), "%s/%s", path, e->d_name), 0);
		rm_tree(sub);
	}
	closedir(d);
	(void)rmdir(path);
}

static int teardown_dir(void **state)
{
	(void)state;
	rm_tree(tmpdir);
	return 0;
}

static void path_in(char *out, size_t outlen, const char *name)
{
	assert_int_equal(str_format(out, outlen, "%s/%s", tmpdir, name), 0);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* ---- passwords ---- */

static void test_password(void **state)
{
	char hash[CRYPTO_HASH_STR_LEN];
	char hash2[CRYPTO_HASH_STR_LEN];

	(void)state;
	assert_int_equal(crypto_password_hash("correct horse", hash), 0);
	assert_true(strncmp(hash, "$argon2id$", 10) == 0);
	assert_true(crypto_password_verify(hash, "correct horse"));
	assert_false(crypto_password_verify(hash, "correct horsE"));
	assert_false(crypto_password_verify(hash, ""));
	assert_false(crypto_password_verify("", "correct horse"));
	assert_false(crypto_password_verify("$argon2id$garbage", "correct horse"));
	/* Salted: the same password hashes differently. */
	assert_int_equal(crypto_password_hash("correct horse", hash2), 0);
	assert_string_not_equal(hash, hash2);
	assert_false(crypto_password_verify_dummy("correct horse"));
	assert_false(crypto_password_verify_dummy(""));
}

/* ---- keys ---- */

/* A message key sealed to an account's public key opens with its pair only, and not
 * once altered or cut; the pair is a function of the account key alone. */
static void test_key_seal(void **state)
{
	(void)state;
	unsigned char acct[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN], key[CRYPTO_KEY_LEN], back[CRYPTO_KEY_LEN];
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN], pk2[CRYPTO_PUBLIC_KEY_LEN],
	    sk2[CRYPTO_SECRET_KEY_LEN], sealed[CRYPTO_SEALED_KEY_LEN], sealed2[CRYPTO_SEALED_KEY_LEN];
	crypto_key_generate(acct);
	crypto_key_generate(other);
	crypto_key_generate(key);
	crypto_keypair_derive(acct, pk, sk);
	crypto_keypair_derive(acct, pk2, sk2);
	assert_memory_equal(pk, pk2, sizeof pk);
	assert_memory_equal(sk, sk2, sizeof sk);
	assert_memory_not_equal(sk, acct, sizeof sk); /* a derived key, not the account key */
	assert_int_equal(crypto_key_seal(pk, key, sealed), 0);
	assert_int_equal(crypto_key_seal(pk, key, sealed2), 0);
	assert_memory_not_equal(sealed, sealed2, sizeof sealed); /* an ephemeral key each time */
	assert_int_equal(crypto_key_seal_open(pk, sk, sealed, sizeof sealed, back), 0);
	assert_memory_equal(back, key, sizeof key);
	crypto_keypair_derive(other, pk2, sk2);
	assert_int_equal(crypto_key_seal_open(pk2, sk2, sealed, sizeof sealed, back), -1);
	assert_int_equal(crypto_key_seal_open(pk, sk, sealed, sizeof sealed - 1, back), -1);
	assert_int_equal(crypto_key_seal_open(pk, sk, NULL, 0, back), -1);
	sealed[40] ^= 1;
	assert_int_equal(crypto_key_seal_open(pk, sk, sealed, sizeof sealed, back), -1);
}

static void test_key_wrap(void **state)
{
	unsigned char master[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN];
	unsigned char key[CRYPTO_KEY_LEN], back[CRYPTO_KEY_LEN];
	char hex[CRYPTO_WRAPPED_HEX_LEN], bad[CRYPTO_WRAPPED_HEX_LEN], v1[CRYPTO_WRAPPED_V1_HEX_LEN];
	size_t i;

	(void)state;
	crypto_key_generate(master);
	crypto_key_generate(other);
	crypto_key_generate(key);
	assert_int_equal(crypto_key_wrap(master, key, "Alice@Example.org", hex), 0);
	assert_int_equal(strlen(hex), CRYPTO_WRAPPED_HEX_LEN - 1);
	assert_memory_equal(hex, "v2.", 3);
	/* bound to the account, compared lowercased */
	assert_int_equal(crypto_key_unwrap(master, hex, "alice@example.org", back), 0);
	assert_memory_equal(key, back, CRYPTO_KEY_LEN);
	assert_int_equal(crypto_key_unwrap(master, hex, "ALICE@example.ORG", back), 0);
	assert_int_equal(crypto_key_unwrap(master, hex, "bob@example.org", back), -1);
	for (i = 0; i < CRYPTO_KEY_LEN; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(crypto_key_unwrap(master, hex, "", back), -1);
	assert_int_equal(crypto_key_unwrap(master, hex, NULL, back), -1);
	assert_int_equal(crypto_key_unwrap(other, hex, "alice@example.org", back), -1);
	/* Any altered hex digit is detected, whatever part (nonce, key, tag) it hits. */
	for (i = 3; i < CRYPTO_WRAPPED_HEX_LEN - 1; i += 7) {
		memcpy(bad, hex, sizeof(bad));
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(crypto_key_unwrap(master, bad, "alice@example.org", back), -1);
	}
	assert_int_equal(crypto_key_unwrap(master, "", "alice@example.org", back), -1);
	assert_int_equal(crypto_key_unwrap(master, "abcd", "alice@example.org", back), -1);
	memcpy(bad, hex, sizeof(bad));
	bad[10] = 'z';
	assert_int_equal(crypto_key_unwrap(master, bad, "alice@example.org", back), -1);
	memcpy(bad, hex, sizeof(bad));
	bad[1] = '1';
	assert_int_equal(crypto_key_unwrap(master, bad, "alice@example.org", back), -1);

	/* The first format: read by mssctl migrate only, refused by crypto_key_unwrap. */
	assert_int_equal(crypto_key_wrap_v1(master, key, v1), 0);
	assert_int_equal(strlen(v1), CRYPTO_WRAPPED_V1_HEX_LEN - 1);
	assert_int_equal(crypto_key_unwrap(master, v1, "alice@example.org", back), -1);
	assert_int_equal(crypto_key_unwrap_v1(master, v1, back), 0);
	assert_memory_equal(key, back, CRYPTO_KEY_LEN);
	assert_int_equal(crypto_key_unwrap_v1(other, v1, back), -1);
	assert_int_equal(crypto_key_unwrap_v1(master, hex, back), -1);
	crypto_key_wipe(key);
	for (i = 0; i < CRYPTO_KEY_LEN; i++)
		assert_int_equal(key[i], 0);
}

static void test_master_key(void **state)
{
	unsigned char k1[CRYPTO_KEY_LEN], k2[CRYPTO_KEY_LEN];
	char path[512], err[256];
	struct stat st;
	int fd;

	(void)state;
	path_in(path, sizeof(path), "master.key");
	assert_int_equal(crypto_master_key_create(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0400); /* root's alone: the daemons' key agent */
	assert_int_equal(st.st_size, CRYPTO_KEY_LEN);
	/* Never overwrites an existing key. */
	assert_int_equal(crypto_master_key_create(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(crypto_master_key_load(path, k1, err, sizeof(err)), 0);
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, CRYPTO_KEY_LEN);

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group or others"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), -1);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), 0);

	/* Wrong size. */
	path_in(path, sizeof(path), "short.key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), -1);
	path_in(path, sizeof(path), "missing.key");
	assert_int_equal(crypto_master_key_load(path, k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.key"));
}

/* ---- blobs ---- */

static unsigned char *pattern(size_t n)
{
	unsigned char *p = xmalloc(n ? n : 1);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + i / 251);
	return p;
}

static void roundtrip(size_t n, size_t piece)
{
	unsigned char key[CRYPTO_KEY_LEN];
	unsigned char *data = pattern(n);
	char path[512], err[256];
	struct blob_writer *w;
	struct buf out;
	size_t off, chunks;

	crypto_key_generate(key);
	path_in(path, sizeof(path), "rt/blob");
	w = crypto_blob_create(path, key, err, sizeof(err));
	assert_non_null(w);
	for (off = 0; off < n; off += piece)
		assert_int_equal(
		    crypto_blob_write(w, data + off, n - off < piece ? n - off : piece, err, sizeof(err)), 0);
	assert_int_equal(crypto_blob_commit(w, err, sizeof(err)), 0);
	/* Full chunks then one FINAL chunk of 0..CHUNK bytes. */
	chunks = n == 0 ? 1 : (n + CHUNK - 1) / CHUNK;
	assert_int_equal(file_size(path), HEAD + n + chunks * ABYTES);

	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(buf_append_str(&out, "prefix"), 0);
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, n + 6);
	assert_memory_equal(out.data, "prefix", 6);
	if (n)
		assert_memory_equal(out.data + 6, data, n);
	/* the streaming reader gives the same octets, chunk by chunk */
	buf_reset(&out);
	struct blob_reader *r = crypto_blob_open(path, key, err, sizeof(err));
	assert_non_null(r);
	const unsigned char *p;
	size_t k;
	int rc;
	while ((rc = crypto_blob_next(r, &p, &k, err, sizeof(err))) == 1) {
		assert_true(k <= CHUNK);
		assert_int_equal(buf_append(&out, p, k), 0);
	}
	assert_int_equal(rc, 0);
	crypto_blob_close(r);
	assert_int_equal(out.len, n);
	if (n)
		assert_memory_equal(out.data, data, n);
	/* the same blob sealed in memory (a blob kept in its database row): same size and
	 * format, so the file reader reads it too, and the memory readers give the octets */
	struct buf mem;
	buf_init(&mem, BUF_UNLIMITED);
	assert_int_equal(crypto_blob_seal(key, data, n, &mem, err, sizeof(err)), 0);
	assert_int_equal(mem.len, HEAD + n + chunks * ABYTES);
	assert_int_equal(crypto_blob_sealed_size(n), mem.len);
	buf_reset(&out);
	assert_int_equal(crypto_blob_read_mem(mem.data, mem.len, "row", key, &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, n);
	if (n)
		assert_memory_equal(out.data, data, n);
	r = crypto_blob_open_mem(mem.data, mem.len, "row", key, err, sizeof(err));
	assert_non_null(r);
	memset(mem.data, 0, mem.len); /* the reader holds its own copy */
	buf_reset(&out);
	while ((rc = crypto_blob_next(r, &p, &k, err, sizeof(err))) == 1)
		assert_int_equal(buf_append(&out, p, k), 0);
	assert_int_equal(rc, 0);
	crypto_blob_close(r);
	assert_int_equal(out.len, n);
	if (n)
		assert_memory_equal(out.data, data, n);
	buf_free(&mem);
	buf_free(&out);
	free(data);
	assert_int_equal(unlink(path), 0);
}

/* A blob sealed in memory: every flipped byte, every cut, a wrong key and bytes after
 * its end are refused, and nothing of the plaintext is given. */
static void test_blob_mem_tamper(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN];
	char err[256];
	struct buf mem, out;
	(void)state;
	crypto_key_generate(key);
	crypto_key_generate(other);
	buf_init(&mem, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(crypto_blob_seal(key, "small message", 13, &mem, err, sizeof(err)), 0);
	assert_null(memmem(mem.data, mem.len, "small", 5));
	for (size_t i = 0; i < mem.len; i++) {
		mem.data[i] ^= 0x01;
		assert_int_equal(crypto_blob_read_mem(mem.data, mem.len, "row", key, &out, err, sizeof(err)),
		                 -1);
		mem.data[i] ^= 0x01;
		assert_int_equal(crypto_blob_read_mem(mem.data, i, "row", key, &out, err, sizeof(err)), -1);
		assert_int_equal(out.len, 0);
	}
	assert_int_equal(crypto_blob_read_mem(mem.data, mem.len, "row", other, &out, err, sizeof(err)), -1);
	assert_int_equal(buf_append_char(&mem, 'x'), 0);
	assert_int_equal(crypto_blob_read_mem(mem.data, mem.len, "row", key, &out, err, sizeof(err)), -1);
	assert_int_equal(out.len, 0);
	/* the buffer's limit is kept, and a failed seal leaves it as it was */
	struct buf small;
	buf_init(&small, 40);
	assert_int_equal(buf_append_str(&small, "keep"), 0);
	assert_int_equal(crypto_blob_seal(key, "small message", 13, &small, err, sizeof(err)), -1);
	assert_int_equal(small.len, 4);
	buf_free(&small);
	buf_free(&mem);
	buf_free(&out);
}

static void test_blob_roundtrip(void **state)
{
	(void)state;
	roundtrip(0, 1);
	roundtrip(1, 1);
	roundtrip(CHUNK, CHUNK);
	roundtrip(CHUNK, 1000);
	roundtrip(CHUNK + 1, CHUNK + 1);
	roundtrip(2 * CHUNK, 4096);
	roundtrip(1024 * 1024 + 3, 1024 * 1024 + 3);
	roundtrip(1024 * 1024 + 3, 9999);
}

static void test_blob_write_file(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN];
	char path[512], err[256];
	struct buf out;
	struct stat st;

	(void)state;
	crypto_key_generate(key);
	crypto_key_generate(other);
	path_in(path, sizeof(path), "a/b/c/doc");
	assert_int_equal(crypto_blob_write_file(path, key, "hello", 5, err, sizeof(err)), 0);
	path_in(path, sizeof(path), "a/b");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	path_in(path, sizeof(path), "a/b/c");
	assert_int_equal(count_entries(path), 1); /* no temporary file left */
	path_in(path, sizeof(path), "a/b/c/doc");
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), 0);
	assert_string_equal(out.data, "hello");
	buf_reset(&out);
	/* Wrong key. */
	assert_int_equal(crypto_blob_read(path, other, &out, err, sizeof(err)), -1);
	assert_int_equal(out.len, 0);
	/* Replacing an existing blob. */
	assert_int_equal(crypto_blob_write_file(path, key, "bye", 3, err, sizeof(err)), 0);
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), 0);
	assert_string_equal(out.data, "bye");
	buf_reset(&out);
	/* Missing file. */
	path_in(path, sizeof(path), "a/none");
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a/none"));
	/* The buffer limit is respected and nothing partial is left. */
	buf_free(&out);
	buf_init(&out, 3);
	path_in(path, sizeof(path), "a/b/c/doc");
	assert_int_equal(crypto_blob_write_file(path, key, "hello", 5, err, sizeof(err)), 0);
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), -1);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* Writes a two-chunk blob and returns its key in key. */
static void make_blob(const char *path, unsigned char key[CRYPTO_KEY_LEN], size_t n)
{
	unsigned char *data = pattern(n);
	char err[256];

	crypto_key_generate(key);
	assert_int_equal(crypto_blob_write_file(path, key, data, n, err, sizeof(err)), 0);
	free(data);
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

static void expect_read_fails(const char *path, const unsigned char key[CRYPTO_KEY_LEN], const char *why)
{
	char err[256];
	struct buf out;
	/* the streaming reader fails too, before or at the damaged chunk */
	struct blob_reader *r = crypto_blob_open(path, key, err, sizeof(err));
	if (r != NULL) {
		const unsigned char *p;
		size_t k;
		int rc;
		while ((rc = crypto_blob_next(r, &p, &k, err, sizeof(err))) == 1)
			;
		assert_int_equal(rc, -1);
		crypto_blob_close(r);
	}

	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(buf_append_str(&out, "keep"), 0);
	assert_int_equal(crypto_blob_read(path, key, &out, err, sizeof(err)), -1);
	assert_string_equal(out.data, "keep"); /* no partial plaintext */
	if (why && !strstr(err, why))
		fail_msg("err \"%s\" lacks \"%s\"", err, why);
	buf_free(&out);
}

static void test_blob_tamper(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN];
	const size_t n = CHUNK + 100;
	const off_t size = HEAD + (off_t)n + 2 * ABYTES;
	const off_t spots[] = {
	    0, 4, 5, 28, HEAD, HEAD + 1000, HEAD + CHUNK + ABYTES - 1, HEAD + CHUNK + ABYTES, size - 1};
	char path[512];
	size_t i;

	(void)state;
	path_in(path, sizeof(path), "tamper");
	for (i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		make_blob(path, key, n);
		assert_int_equal(file_size(path), size);
		flip_byte(path, spots[i]);
		expect_read_fails(path, key, NULL);
	}
	/* Truncations: inside the last chunk, at the chunk boundary (the FINAL chunk
	 * gone), inside the header, to nothing. */
	make_blob(path, key, n);
	assert_int_equal(truncate(path, size - 1), 0);
	expect_read_fails(path, key, NULL);
	make_blob(path, key, n);
	assert_int_equal(truncate(path, HEAD + CHUNK + ABYTES), 0);
	expect_read_fails(path, key, "truncated");
	make_blob(path, key, n);
	assert_int_equal(truncate(path, HEAD), 0);
	expect_read_fails(path, key, "truncated");
	make_blob(path, key, n);
	assert_int_equal(truncate(path, 10), 0);
	expect_read_fails(path, key, "header");
	make_blob(path, key, n);
	assert_int_equal(truncate(path, 0), 0);
	expect_read_fails(path, key, NULL);
	/* Appended data, one byte or a whole forged chunk's worth. */
	make_blob(path, key, n);
	assert_int_equal(truncate(path, size + 1), 0);
	expect_read_fails(path, key, NULL);
	make_blob(path, key, CHUNK); /* a full FINAL chunk, then one stray byte */
	assert_int_equal(truncate(path, HEAD + CHUNK + ABYTES + 1), 0);
	expect_read_fails(path, key, "after its end");
	make_blob(path, key, 0);
	assert_int_equal(truncate(path, HEAD + ABYTES + CHUNK + ABYTES), 0);
	expect_read_fails(path, key, NULL);
}

static void test_blob_abort(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char path[512], dir[512], err[256];
	struct blob_writer *w;
	unsigned char *data = pattern(3 * CHUNK);

	(void)state;
	crypto_key_generate(key);
	path_in(dir, sizeof(dir), "abort");
	path_in(path, sizeof(path), "abort/blob");
	w = crypto_blob_create(path, key, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(crypto_blob_write(w, data, 3 * CHUNK, err, sizeof(err)), 0);
	assert_int_equal(count_entries(dir), 1); /* the temporary file */
	crypto_blob_abort(w);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(access(path, F_OK), -1);
	crypto_blob_abort(NULL);
	free(data);
	assert_int_equal(crypto_fsync_dir_of(path), 0);
}

static void test_blob_create_fails(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char path[512], err[256];
	int fd;

	(void)state;
	crypto_key_generate(key);
	/* A file where a directory should be. */
	path_in(path, sizeof(path), "plainfile");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	path_in(path, sizeof(path), "plainfile/sub/blob");
	err[0] = '\0';
	assert_null(crypto_blob_create(path, key, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

/* A disk that fills up mid-blob: the writer reports it and never publishes the file. */
static void test_blob_write_error(void **state)
{
	unsigned char key[CRYPTO_KEY_LEN];
	unsigned char *data = pattern(4 * CHUNK);
	char path[512], dir[512], err[256];
	struct rlimit old, small;
	struct blob_writer *w;
	int rc;

	(void)state;
	crypto_key_generate(key);
	path_in(dir, sizeof(dir), "full");
	path_in(path, sizeof(path), "full/blob");
	w = crypto_blob_create(path, key, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = CHUNK + CHUNK / 2;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = crypto_blob_write(w, data, 4 * CHUNK, err, sizeof(err));
	if (rc == 0)
		rc = crypto_blob_commit(w, err, sizeof(err));
	else
		crypto_blob_abort(w);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "cannot write"));
	assert_int_equal(count_entries(dir), 0);
	free(data);
}

/* Records (a message's sealed metadata): round trip; a flipped octet, a cut record,
 * another key, another label or another subkey is refused and leaves out unchanged. */
static void test_record(void **state)
{
	(void)state;
	unsigned char key[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN], sub[CRYPTO_KEY_LEN], sub2[CRYPTO_KEY_LEN];
	const char text[] = "(\"Mon, 1 Dec 2026\" \"=?utf-8?q?R=C3=A9sultats?=\" NIL)";
	struct buf rec, out;
	crypto_key_generate(key);
	crypto_key_generate(other);
	crypto_subkey(sub, key, 1, "mss_meta");
	crypto_subkey(sub2, key, 2, "mss_meta");
	assert_memory_not_equal(sub, key, CRYPTO_KEY_LEN);
	assert_memory_not_equal(sub, sub2, CRYPTO_KEY_LEN);
	buf_init(&rec, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(crypto_record_seal(sub, "ad", text, strlen(text), &rec), 0);
	assert_int_equal(rec.len, strlen(text) + CRYPTO_RECORD_OVERHEAD);
	assert_null(memmem(rec.data, rec.len, "sultats", 7));
	assert_int_equal(crypto_record_open(sub, "ad", rec.data, rec.len, &out), 0);
	assert_int_equal(out.len, strlen(text));
	assert_memory_equal(out.data, text, out.len);
	buf_reset(&out);
	assert_int_equal(crypto_record_open(sub2, "ad", rec.data, rec.len, &out), -1);
	assert_int_equal(crypto_record_open(other, "ad", rec.data, rec.len, &out), -1);
	assert_int_equal(crypto_record_open(sub, "other", rec.data, rec.len, &out), -1);
	assert_int_equal(crypto_record_open(sub, "ad", rec.data, rec.len - 1, &out), -1);
	assert_int_equal(crypto_record_open(sub, "ad", rec.data, CRYPTO_RECORD_OVERHEAD - 1, &out), -1);
	for (size_t i = 0; i < rec.len; i += 7) {
		rec.data[i] ^= 0x01;
		assert_int_equal(crypto_record_open(sub, "ad", rec.data, rec.len, &out), -1);
		rec.data[i] ^= 0x01;
	}
	assert_int_equal(out.len, 0);
	/* two seals of the same text differ (random nonce) */
	struct buf again;
	buf_init(&again, BUF_UNLIMITED);
	assert_int_equal(crypto_record_seal(sub, "ad", text, strlen(text), &again), 0);
	assert_memory_not_equal(again.data, rec.data, rec.len);
	buf_free(&again);
	buf_free(&rec);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password),         cmocka_unit_test(test_key_wrap),
	    cmocka_unit_test(test_key_seal),         cmocka_unit_test(test_master_key),
	    cmocka_unit_test(test_blob_roundtrip),   cmocka_unit_test(test_blob_mem_tamper),
	    cmocka_unit_test(test_blob_write_file),  cmocka_unit_test(test_blob_tamper),
	    cmocka_unit_test(test_blob_abort),       cmocka_unit_test(test_blob_create_fails),
	    cmocka_unit_test(test_blob_write_error), cmocka_unit_test(test_record),
	};

	if (crypto_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

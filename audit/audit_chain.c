/* audit_chain.c: canonical encoding, BLAKE2b chain and the Ed25519 audit key. */

#include "audit/audit_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fd_io.h"
#include "lib/str.h"

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

void audit_chain_hash(const unsigned char prev[AUDIT_HASH_LEN], const struct audit_fields *fl,
                      unsigned char out[AUDIT_HASH_LEN])
{
	crypto_generichash_state h;
	unsigned char num[16];

	crypto_generichash_init(&h, NULL, 0, AUDIT_HASH_LEN);
	crypto_generichash_update(&h, prev, AUDIT_HASH_LEN);
	crypto_generichash_update(&h, (const unsigned char *)"MSSAUDIT1", 9);
	put_u64(num, (uint64_t)fl->seq);
	put_u64(num + 8, (uint64_t)fl->time);
	crypto_generichash_update(&h, num, 16);
	for (int i = 0; i < 8; i++) {
		const char *v = fl->f[i] ? fl->f[i] : "";
		size_t n = strlen(v);
		/* Length-prefixed, so no choice of field values can shift bytes between
		 * fields and collide with another record's encoding. */
		put_u32(num, (uint32_t)n);
		crypto_generichash_update(&h, num, 4);
		crypto_generichash_update(&h, (const unsigned char *)v, n);
	}
	crypto_generichash_final(&h, out, AUDIT_HASH_LEN);
}

size_t audit_chain_statement(const char *kind, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                             unsigned char msg[96])
{
	size_t n = 0;
	const char *tag = strcmp(kind, "head") == 0 ? "MSSAUDIT1-HEAD" : "MSSAUDIT1-CHECKPOINT";
	size_t tl = strlen(tag);

	memcpy(msg, tag, tl);
	n += tl;
	msg[n++] = 0;
	put_u64(msg + n, (uint64_t)seq);
	n += 8;
	memcpy(msg + n, hash, AUDIT_HASH_LEN);
	n += AUDIT_HASH_LEN;
	return n;
}

int audit_key_dir(const char *data_dir, const char *override, char *out, size_t outlen)
{
	if (override && *override)
		return str_copy(out, outlen, override);
	if (data_dir == NULL || *data_dir == '\0')
		return -1;
	return str_format(out, outlen, "%s/keys", data_dir);
}

int audit_unhex(const char *hex, unsigned char *out, size_t n)
{
	size_t bin_len = 0;
	if (strlen(hex) != n * 2)
		return -1;
	if (sodium_hex2bin(out, n, hex, n * 2, NULL, &bin_len, NULL) != 0 || bin_len != n)
		return -1;
	return 0;
}

static int read_exact_file(const char *path, unsigned char *out, size_t n, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = fd_read_exact(fd, out, n);
	char extra;
	ssize_t more = read(fd, &extra, 1);
	close(fd);
	if (rc != 0 || more != 0) {
		str_error(err, errlen, "%s: not a %zu-byte key", path, n);
		return -1;
	}
	return 0;
}

/* Writes path from a temp file and links it into place; EEXIST means someone else won
 * the race, which is fine (the caller then reads theirs). */
static int publish_file(const char *keydir, const char *name, const void *p, size_t n, mode_t mode, char *err,
                        size_t errlen)
{
	char tmp[1100], final[1100];

	if (str_format(tmp, sizeof tmp, "%s/.%s.%ld", keydir, name, (long)getpid()) < 0 ||
	    str_format(final, sizeof final, "%s/%s", keydir, name) < 0) {
		str_error(err, errlen, "%s", "audit key path too long");
		return -1;
	}
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		str_error(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	/* The file stays its creator's: the signer creates it, as root when the daemon or
	 * mssctl started as root, so the daemons' user can neither read audit.key nor
	 * rewrite audit.pub (issue 12). */
	/* the mode asked, whatever the umask (077 in the daemons): audit.pub is public */
	int rc = fchmod(fd, mode) == 0 && fd_write_all(fd, p, n) == 0 && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	if (rc == 0 && link(tmp, final) != 0 && errno != EEXIST)
		rc = -1;
	unlink(tmp);
	if (rc != 0)
		str_error(err, errlen, "%s: %s", final, strerror(errno));
	return rc;
}

/* audit.pub from the secret key, when it is missing (a key made before audit.pub
 * existed, or a creation race lost after audit.key was linked). */
static void publish_public(const char *keydir, const unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
	char path[1100], pkhex[crypto_sign_PUBLICKEYBYTES * 2 + 2], err[256];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];

	if (str_format(path, sizeof path, "%s/audit.pub", keydir) < 0 || access(path, F_OK) == 0)
		return;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_bin2hex(pkhex, sizeof pkhex, pk, sizeof pk);
	size_t l = strlen(pkhex);
	pkhex[l] = '\n';
	publish_file(keydir, "audit.pub", pkhex, l + 1, 0644, err, sizeof err);
}

int audit_key_load_or_create(const char *keydir, unsigned char sk[crypto_sign_SECRETKEYBYTES], char *err,
                             size_t errlen)
{
	char path[1100];
	struct stat sb;

	if (str_format(path, sizeof path, "%s/audit.key", keydir) < 0) {
		str_error(err, errlen, "%s", "audit key path too long");
		return -1;
	}
	if (stat(keydir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		str_error(err, errlen, "%s: no key directory", keydir);
		return -1;
	}
	if (access(path, F_OK) != 0) {
		unsigned char pk[crypto_sign_PUBLICKEYBYTES], nsk[crypto_sign_SECRETKEYBYTES];
		crypto_sign_keypair(pk, nsk);
		int rc = publish_file(keydir, "audit.key", nsk, sizeof nsk, 0600, err, errlen);
		sodium_memzero(nsk, sizeof nsk);
		if (rc != 0)
			return -1;
	}
	/* whichever audit.key won a creation race is the one read, and published */
	if (read_exact_file(path, sk, crypto_sign_SECRETKEYBYTES, err, errlen) != 0)
		return -1;
	/* Root signs only with a key nobody else could have written: a key file the
	 * daemons' user owns may be theirs, made to re-sign a shortened log. */
	if (geteuid() == 0 && (lstat(path, &sb) != 0 || sb.st_uid != 0)) {
		sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
		str_error(err, errlen, "%s is not owned by root: not used for signing", path);
		return -1;
	}
	publish_public(keydir, sk);
	return 0;
}

int audit_key_load_public(const char *keydir, unsigned char pk[crypto_sign_PUBLICKEYBYTES], char *err,
                          size_t errlen)
{
	char path[1100];

	if (str_format(path, sizeof path, "%s/audit.pub", keydir) < 0) {
		str_error(err, errlen, "%s", "audit key path too long");
		return -1;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		str_error(err, errlen, "no audit public key: %s: %s", path, strerror(errno));
		return -1;
	}
	char line[256] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	str_trim(line);
	if (audit_unhex(line, pk, crypto_sign_PUBLICKEYBYTES) != 0) {
		str_error(err, errlen, "%s: not an Ed25519 public key", path);
		return -1;
	}
	return 0;
}

int audit_sig_ok(const unsigned char *pk, const char *kind, int64_t seq, const char *hash_hex,
                 const char *sig_hex)
{
	unsigned char hash[AUDIT_HASH_LEN], sig[crypto_sign_BYTES], msg[96];

	if (audit_unhex(hash_hex, hash, sizeof hash) != 0 || audit_unhex(sig_hex, sig, sizeof sig) != 0)
		return 0;
	size_t n = audit_chain_statement(kind, seq, hash, msg);
	return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}

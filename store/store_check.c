/* store_check.c: is data_dir usable by this process? Checked at start so that a daemon
 * refuses with the cause and the remedy that works, rather than starting and failing
 * every session ("421 4.3.0", "* BYE Service temporarily unavailable"). */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/str.h"

static const char *who_am_i(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw == NULL || str_copy(buf, len, pw->pw_name) != 0)
		str_error(buf, len, "uid %u", (unsigned)geteuid()); /* a name for an error text */
	return buf;
}

/* An access check with the effective ids (those the daemon runs with after the
 * switch), naming the owner and mode and the remedy when it fails. */
static int check_access(const struct mss_config *cfg, const char *path, int mode, bool dir, char *err,
                        size_t errlen)
{
	struct stat sb;
	char me[64];
	if (stat(path, &sb) < 0 && errno == EACCES) {
		str_error(err, errlen,
		          "%s cannot be reached by %s: %s (each parent directory must be "
		          "searchable by the user of the config)",
		          path, who_am_i(me, sizeof me), strerror(errno));
		return -1;
	}
	if (stat(path, &sb) < 0) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (dir != S_ISDIR(sb.st_mode)) {
		str_error(err, errlen, "%s: %s", path, dir ? "not a directory" : "is a directory");
		return -1;
	}
	if (faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0)
		return 0;
	str_error(err, errlen,
	          "%s is not %s by %s (owner uid %u, mode %04o): give data_dir to the user "
	          "of the config (chown -R %s %s)",
	          path, (mode & W_OK) ? "writable" : "readable", who_am_i(me, sizeof me), (unsigned)sb.st_uid,
	          (unsigned)(sb.st_mode & 07777), cfg->user, cfg->data_dir);
	return -1;
}

/* The files a store needs: the database (SQLite only: PostgreSQL's is elsewhere), blob
 * directory and run/ writable. Not the master key: root's, read by the account key
 * agent alone, which names it when it cannot (store_agent_start). */
static int check_parts(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (cfg->store[0] == '\0') {
		if (config_data_path(cfg, "mss.db", path, sizeof path) != 0 ||
		    check_access(cfg, path, R_OK | W_OK, false, err, errlen) < 0)
			return -1;
	}
	if (config_blob_dir(cfg, path, sizeof path) != 0 ||
	    check_access(cfg, path, R_OK | W_OK | X_OK, true, err, errlen) < 0)
		return -1;
	if (config_data_path(cfg, "run", path, sizeof path) != 0 ||
	    check_access(cfg, path, R_OK | W_OK | X_OK, true, err, errlen) < 0)
		return -1;
	return 0;
}

int store_check_data_dir(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;
	if (stat(cfg->data_dir, &sb) < 0 && errno == ENOENT) {
		str_error(err, errlen, "data_dir %s does not exist: create it with mssctl -c %s init",
		          cfg->data_dir, cfg->path);
		return -1;
	}
	/* SQLite writes its -wal and -shm files beside the database: the directory too. */
	if (check_access(cfg, cfg->data_dir, R_OK | W_OK | X_OK, true, err, errlen) < 0)
		return -1;
	if (cfg->store[0] == '\0' &&
	    (config_data_path(cfg, "mss.db", path, sizeof path) != 0 || stat(path, &sb) < 0)) {
		str_error(err, errlen, "data_dir %s is not initialised (no mss.db): run mssctl -c %s init",
		          cfg->data_dir, cfg->path);
		return -1;
	}
	return check_parts(cfg, err, errlen);
}

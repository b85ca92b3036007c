/* fuzz-libs: lib */
/* fuzz_config: the mss.conf parser on arbitrary files. The input is written to a
 * temporary file and read with config_load, the path daemons and mssctl take, so the
 * line reader, the key table and every value parser are exercised. A config file is
 * written by an administrator, but a parser must still never overrun or crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"

static char path[64];

static int write_input(const uint8_t *data, size_t size)
{
	if (path[0] == '\0') {
		snprintf(path, sizeof path, "/tmp/fuzz-config-%ld.conf", (long)getpid());
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mss_config cfg;
	char err[512];

	if (write_input(data, size) != 0)
		return 0;
	config_defaults(&cfg);
	err[0] = '\0';
	if (config_load(&cfg, path, err, sizeof err) != 0) {
		/* The error must be a terminated string naming the file. */
		if (memchr(err, '\0', sizeof err) == NULL)
			abort();
	}
	unlink(path);

	/* The single-line entry point, on the input split at its first '='. */
	const uint8_t *eq = memchr(data, '=', size);
	if (eq != NULL && size < 8192) {
		char key[8192], value[8192];
		size_t kn = (size_t)(eq - data), vn = size - kn - 1;
		memcpy(key, data, kn);
		key[kn] = '\0';
		memcpy(value, eq + 1, vn);
		value[vn] = '\0';
		config_defaults(&cfg);
		(void)config_set(&cfg, key, value, err, sizeof err);
	}
	return 0;
}

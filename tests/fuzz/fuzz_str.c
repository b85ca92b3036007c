/* fuzz-libs: lib */
/* fuzz_str: lib/str.h helpers on arbitrary bytes. Besides crashes, checks the
 * contracts the rest of the code relies on: str_trim leaves no edge blanks,
 * str_lower leaves no upper-case ASCII, str_copy always terminates, and
 * str_is_utf8 agrees with an independent decoder (RFC 3629 section 4). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"

/* Reference UTF-8 check written from the RFC 3629 grammar, byte by byte. */
static bool ref_is_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
		if (i + len > n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += len;
	}
	return true;
}

static void check_trim_lower(const char *s)
{
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (t == NULL)
		return;
	memcpy(t, s, n + 1);
	char *r = str_trim(t);
	size_t rn = strlen(r);
	if (rn > 0 && (r[0] == ' ' || r[0] == '\t' || r[rn - 1] == ' ' || r[rn - 1] == '\t'))
		abort();
	str_lower(r);
	for (size_t i = 0; i < rn; i++)
		if (r[i] >= 'A' && r[i] <= 'Z')
			abort();
	free(t);
}

static void check_copy(const char *s)
{
	char small[16];
	int rc = str_copy(small, sizeof small, s);
	if (strlen(small) >= sizeof small)
		abort();
	if ((strlen(s) < sizeof small) != (rc == 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (str_is_utf8((const char *)data, size) != ref_is_utf8(data, size))
		abort();
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_trim_lower(s);
	check_copy(s);
	uint64_t v;
	(void)str_to_u64(s, UINT64_MAX, &v);
	if (str_is_address(s) && str_address_domain(s)[0] == '\0')
		abort();
	(void)str_list_contains(s, "pro.mss.test");
	(void)str_ieq(s, "EHLO");
	(void)str_iprefix(s, "MAIL FROM:");
	free(s);
	return 0;
}

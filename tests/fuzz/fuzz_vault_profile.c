/* fuzz-libs: vault audit directory store msg lib */
/* fuzz_vault_profile.c: what the patient types into a medical profile section (the
 * web form's text, or a mail's text part), read by vault_profile_parse. The first
 * byte picks the section. Never crashes; an accepted text gives at most
 * VAULT_PROFILE_ITEMS_MAX items, each terminated, valid UTF-8, without control
 * characters or edge blanks, and no longer than VAULT_PROFILE_ITEM_CHARS characters;
 * a refusal always says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_profile.h"

static struct vault_profile_items items;

static void check_item(const char *s)
{
	size_t n = strnlen(s, VAULT_PROFILE_ITEM_MAX), chars = 0;

	if (n == 0 || n == VAULT_PROFILE_ITEM_MAX || !str_is_utf8(s, n) || s[0] == ' ' || s[n - 1] == ' ')
		abort();
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	}
	if (chars > VAULT_PROFILE_ITEM_CHARS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nsec;
	const struct vault_profile_section *secs = vault_profile_sections(&nsec);
	char why[300] = "";
	char *text;

	if (size == 0)
		return 0;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (vault_profile_parse(&secs[data[0] % nsec], text, &items, why, sizeof(why)) == 0) {
		if (items.n > VAULT_PROFILE_ITEMS_MAX)
			abort();
		for (size_t i = 0; i < items.n; i++)
			check_item(items.item[i]);
	} else if (why[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}

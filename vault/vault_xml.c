/* vault_xml.c: see vault_xml.h. */
#include "vault/vault_xml.h"

#include <stddef.h>
#include <string.h>

const char *vault_xml_local(const char *name)
{
	const char *bar = strrchr(name, '|');
	return bar ? bar + 1 : name;
}

const char *vault_xml_attr(const char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(vault_xml_local(atts[i]), name) == 0)
			return atts[i + 1];
	return "";
}

/* vault_xml.h: the two helpers every expat reader of the vault uses (CDA, its
 * narrative, XDM metadata, immunizations), parsers made with XML_ParserCreateNS(NULL,
 * '|'): names arrive as "namespace|local". */
#ifndef MSS_VAULT_XML_H
#define MSS_VAULT_XML_H

/* The local part of an element's or attribute's name (after the last '|'). */
const char *vault_xml_local(const char *name);
/* The value of the attribute whose local name is name, "" when absent. */
const char *vault_xml_attr(const char **atts, const char *name);

#endif

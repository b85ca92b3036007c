/* fuzz-libs: smtpd lib */
/* fuzz_smtp_command: the SMTP command parser (smtpd/smtp_parse.c) on arbitrary
 * command lines, as the session hands them over: split into verb and arguments, then
 * the argument parser of that verb (MAIL, RCPT, EHLO/HELO, AUTH; the SASL messages
 * themselves are fuzz_sasl's). smtp_parse.c is pure: it needs only lib/. Besides crashes,
 * checks the contracts the session relies on: a parsed address is short enough for
 * a path, lowercase, and a valid mailbox or empty. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_parse.h"

static void check_address(const char *addr, enum smtp_reply_id r)
{
	if (r != RPL_OK)
		return;
	if (strlen(addr) >= SMTP_PATH_MAX)
		abort();
	for (const char *p = addr; *p; p++)
		if (isupper((unsigned char)*p))
			abort();
	if (addr[0] && !smtp_parse_is_mailbox(addr))
		abort();
}

static void parse_auth(const char *args)
{
	char mech[32];
	const char *resp;

	if (smtp_parse_auth(args, mech, sizeof(mech), &resp) == 0 && (!mech[0] || strchr(resp, ' ')))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmdline cl;
	struct smtp_mail_params mp;
	struct dsn_rcpt dsn;
	char addr[SMTP_PATH_MAX], helo[SMTP_DOMAIN_MAX];
	char *line;

	/* The session never passes a line with a NUL or longer than the line limit. */
	if (size > 1000 || memchr(data, '\0', size) != NULL)
		return 0;
	line = malloc(size + 1);
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (smtp_parse_verb(line, &cl) == 0) {
		if (strlen(cl.verb) == 0 || strlen(cl.verb) >= SMTP_VERB_MAX)
			abort();
		if (strcmp(cl.verb, "MAIL") == 0)
			check_address(addr, smtp_parse_mail(cl.args, addr, &mp));
		else if (strcmp(cl.verb, "RCPT") == 0)
			check_address(addr, smtp_parse_rcpt(cl.args, addr, &dsn));
		else if (strcmp(cl.verb, "EHLO") == 0 || strcmp(cl.verb, "HELO") == 0)
			(void)smtp_parse_helo(cl.args, helo);
		else if (strcmp(cl.verb, "AUTH") == 0)
			parse_auth(cl.args);
		else
			parse_auth(cl.args); /* an AUTH continuation line is any text */
	}
	/* Every parser on the raw line too, whatever its verb. */
	check_address(addr, smtp_parse_mail(line, addr, &mp));
	check_address(addr, smtp_parse_rcpt(line, addr, &dsn));
	(void)smtp_parse_is_mailbox(line);
	free(line);
	return 0;
}

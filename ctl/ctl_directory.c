/* ctl_directory.c: mssctl directory import|show|search|enable|disable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "directory/account.h"
#include "directory/directory_entry.h"
#include "directory/directory_import.h"
#include "lib/str.h"

#define SEARCH_LIMIT_DEFAULT 50

static void print_import(const char *path, const struct dir_import_result *r)
{
	printf("imported %s: %llu lines, %llu read, %llu unreadable, %llu empty\n", path,
	       (unsigned long long)r->lines, (unsigned long long)r->imported, (unsigned long long)r->bad,
	       (unsigned long long)r->empty);
	printf("entries: %llu (added %llu, changed %llu, removed %llu)\n", (unsigned long long)r->addresses,
	       (unsigned long long)r->added, (unsigned long long)r->changed, (unsigned long long)r->removed);
}

static void print_bad_lines(FILE *out, const struct dir_import_result *r)
{
	for (unsigned i = 0; i < r->nbad_kept; i++)
		fprintf(out, "unreadable line %llu: %s\n", (unsigned long long)r->bad_lines[i].line,
		        r->bad_lines[i].why);
	if (r->bad > r->nbad_kept)
		fprintf(out, "... and %llu more unreadable lines\n",
		        (unsigned long long)(r->bad - r->nbad_kept));
}

static int import_cmd(struct ctl *c, int argc, char **argv)
{
	const char *path = NULL;
	bool strict = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0)
			strict = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return ctl_usage("directory import: unknown option \"%s\"", argv[i]);
		else if (path == NULL)
			path = argv[i];
		else
			return ctl_usage("directory import takes one FILE");
	}
	if (path == NULL)
		return ctl_usage("directory import needs a FILE");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	struct dir_import_result r;
	char err[512], detail[256];
	int rc = directory_import(c->store, path, strict, &r, err, sizeof err);
	if (rc != 0) {
		print_bad_lines(stderr, &r);
		ctl_audit_action(c, "admin.directory.import", path, NULL, rc < 0 ? "error" : "refused", NULL);
		return ctl_fail("directory import %s: %s", path, err);
	}
	str_assert(str_format(detail, sizeof detail,
	                      "lines=%llu unreadable=%llu added=%llu changed=%llu removed=%llu",
	                      (unsigned long long)r.lines, (unsigned long long)r.bad,
	                      (unsigned long long)r.added, (unsigned long long)r.changed,
	                      (unsigned long long)r.removed),
	           "five 20-digit numbers and 45 bytes of keys fit 256 bytes");
	ctl_audit_action(c, "admin.directory.import", path, detail, "ok", NULL);
	print_import(path, &r);
	print_bad_lines(stdout, &r);
	return CTL_OK;
}

static int print_structure(const struct dir_structure *s, void *arg)
{
	(void)arg;
	printf("structure: %s %s | %s | %s | %s\n", s->id_type[0] ? s->id_type : "-",
	       s->id_value[0] ? s->id_value : "-", s->name, s->service, s->postcode);
	return 0;
}

static void print_local_account(struct ctl *c, const char *address)
{
	struct account a;
	int r = account_get(c->store, address, &a);
	if (r == 1)
		printf("local account: %s (%s)\n", account_role_name(a.role),
		       a.disabled ? "disabled" : "active");
	else
		printf("local account: %s\n", r == 0 ? "none" : "unknown (database error)");
}

static int show_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return ctl_usage("directory show needs an ADDRESS");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	struct dir_entry e;
	int r = dir_entry_get(c->store, argv[2], &e);
	if (r < 0)
		return ctl_fail("cannot read the directory");
	if (r == 0)
		return ctl_fail("%s is not in the directory", argv[2]);
	printf("address: %s\nbal type: %s\nidentifier: %s %s\nnational identifier: %s\ncivility: %s\n"
	       "name: %s\nfirst name: %s\nprofession: %s %s\nspeciality: %s %s\nstate: %s\n",
	       e.address, e.bal_type, e.id_type, e.id_value, e.national_id, e.civility, e.last_name,
	       e.first_name, e.profession_code, e.profession_label, e.speciality_code, e.speciality_label,
	       e.active ? "active" : "inactive");
	if (dir_structure_foreach(c->store, e.address, print_structure, NULL) < 0)
		return ctl_fail("cannot read the directory");
	print_local_account(c, e.address);
	return CTL_OK;
}

static int print_entry_row(const struct dir_entry *e, void *arg)
{
	(void)arg;
	printf("%-45s %s %-5s %-11s %s %s | %s%s\n", e->address, e->bal_type, e->id_type, e->id_value,
	       e->last_name, e->first_name, e->profession_label, e->active ? "" : " (inactive)");
	return 0;
}

static int search_cmd(struct ctl *c, int argc, char **argv)
{
	unsigned limit = SEARCH_LIMIT_DEFAULT;
	const char *text = NULL;
	for (int i = 2; i < argc; i++) {
		uint64_t n;
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (str_to_u64(argv[++i], 100000, &n) < 0 || n == 0)
				return ctl_usage("--limit needs a number from 1 to 100000");
			limit = (unsigned)n;
		} else if (text == NULL) {
			text = argv[i];
		} else {
			return ctl_usage("directory search takes one TEXT");
		}
	}
	if (text == NULL || text[0] == '\0')
		return ctl_usage("directory search needs a TEXT");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	int n = dir_entry_search(c->store, text, limit, print_entry_row, NULL);
	if (n < 0)
		return ctl_fail("cannot search the directory");
	printf("%d entr%s%s\n", n, n == 1 ? "y" : "ies",
	       (unsigned)n == limit ? " (limit reached: --limit N)" : "");
	return CTL_OK;
}

static int active_cmd(struct ctl *c, int argc, char **argv, bool active)
{
	if (argc != 3)
		return ctl_usage("directory %s needs an ADDRESS", argv[1]);
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	int r = dir_entry_set_active(c->store, argv[2], active);
	if (r < 0)
		return ctl_fail("cannot update the directory");
	if (r > 0)
		return ctl_fail("%s is not in the directory", argv[2]);
	ctl_audit_action(c, active ? "admin.directory.enable" : "admin.directory.disable", argv[2], NULL,
	                 "ok", NULL);
	printf("%s %s\n", active ? "enabled" : "disabled", argv[2]);
	return CTL_OK;
}

int ctl_directory(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage("directory needs import, show, search, enable or disable");
	if (strcmp(argv[1], "import") == 0)
		return import_cmd(c, argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return show_cmd(c, argc, argv);
	if (strcmp(argv[1], "search") == 0)
		return search_cmd(c, argc, argv);
	if (strcmp(argv[1], "enable") == 0)
		return active_cmd(c, argc, argv, true);
	if (strcmp(argv[1], "disable") == 0)
		return active_cmd(c, argc, argv, false);
	return ctl_usage("unknown directory command \"%s\"", argv[1]);
}

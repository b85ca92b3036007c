/* directory_import.h: imports the public "Extraction Correspondance MSSanté" file.
 *
 * The file is streamed (memory stays bounded whatever its size) into temporary staging
 * tables, compared with the current directory, and applied, all in one write
 * transaction: a refused or failed import changes nothing. */
#ifndef MSS_DIRECTORY_IMPORT_H
#define MSS_DIRECTORY_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sql.h"
#include "store/store.h"

#define DIR_IMPORT_BAD_KEPT 10

struct dir_import_result {
	uint64_t lines;     /* data lines read (header excluded, empty lines included) */
	uint64_t imported;  /* lines imported */
	uint64_t empty;     /* empty lines skipped */
	uint64_t bad;       /* lines that could not be read */
	uint64_t addresses; /* distinct addresses now in the directory */
	uint64_t added, changed, removed;
	unsigned nbad_kept; /* first DIR_IMPORT_BAD_KEPT bad lines */
	struct {
		uint64_t line; /* 1-based line number in the file (the header is line 1) */
		char why[128];
	} bad_lines[DIR_IMPORT_BAD_KEPT];
};

/* Imports path, replacing the previous import. strict: any unreadable line refuses the
 * whole file. A local professional or organisation account whose entry the file no
 * longer lists (struck off) keeps its entry, inactive, and its open sessions are woken
 * after the commit (store_account_wake: imapd ends their views of patients' vaults);
 * listed again, the entry is active again. Returns 0 when committed (r filled), 1 when refused (err says why:
 * cannot open, missing column, bad lines under strict, read error; r holds the bad lines), -1 on a database
 * error. The caller holds no transaction. */
int directory_import(struct store *st, const char *path, bool strict, struct dir_import_result *r, char *err,
                     size_t errlen);

/* Internal to directory_import.c / directory_merge.c: applies the lines staged in the
 * temporary table stage_line to the directory tables inside the caller's write
 * transaction, filling r->added, changed, removed (struck off included), and struck
 * with the local accounts whose entry it made inactive (the caller wakes their
 * sessions after the commit). Returns 0 or -1 with err. */
struct strset;
int dir_merge_staged(struct sql *db, struct dir_import_result *r, struct strset *struck, char *err,
                     size_t errlen);

#endif

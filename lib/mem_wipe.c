/* mem_wipe.c: freed heap memory overwritten (see mem_wipe.h). */
#include "lib/mem_wipe.h"

#include <malloc.h>
#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define MEM_WIPE_POSSIBLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_WIPE_POSSIBLE 0
#endif
#endif
#ifndef MEM_WIPE_POSSIBLE
#define MEM_WIPE_POSSIBLE 1
#endif

#if MEM_WIPE_POSSIBLE

/* glibc's own allocator, under the names it exports for an interposing one */
extern void __libc_free(void *p);
extern void *__libc_malloc(size_t n);
extern void *__libc_realloc(void *p, size_t n);

static bool wiping;

void mem_wipe_freed_on(void)
{
	wiping = true;
}

bool mem_wipe_freed(void)
{
	return wiping;
}

void free(void *p)
{
	if (wiping && p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	__libc_free(p);
}

void *realloc(void *p, size_t n)
{
	if (!wiping || p == NULL)
		return __libc_realloc(p, n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	size_t had = malloc_usable_size(p);
	if (n <= had)
		return p; /* glibc would split off the tail and free it as it is */
	void *moved = __libc_malloc(n);
	if (moved == NULL)
		return NULL;
	memcpy(moved, p, had);
	free(p);
	return moved;
}

#else

void mem_wipe_freed_on(void)
{
}

bool mem_wipe_freed(void)
{
	return false;
}

#endif

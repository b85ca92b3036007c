/* Unit tests: lib/mem_wipe (freed heap memory overwritten in a reused process). What
 * free left is read back through the address it had: glibc keeps the chunk mapped,
 * and writes only its own links in the chunk's first 16 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/mem_wipe.h"

/* A sanitizer build: its allocator is its own, and reading freed memory its error. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* glibc's links in a free chunk (tcache's next and key, a bin's fd and bk) */
#define LINKS 16

/* How many of the n bytes at what was p, from LINKS on, still hold c. */
static size_t left(volatile uintptr_t p, size_t n, unsigned char c)
{
	const volatile unsigned char *b = (const volatile unsigned char *)p;
	size_t k = 0;
	for (size_t i = LINKS; i < n; i++)
		k += b[i] == c;
	return k;
}

/* n bytes of c, freed; the address they had. */
static uintptr_t freed(size_t n, unsigned char c)
{
	unsigned char *p = malloc(n);
	assert_non_null(p);
	memset(p, c, n);
	__asm__ volatile("" : : "r"(p) : "memory"); /* the bytes are written, not a dead store */
	volatile uintptr_t at = (uintptr_t)p;
	free(p);
	return at;
}

static void test_freed_chunks_overwritten_once_on(void **state)
{
	(void)state;
	if (SANITIZED)
		skip();
	/* before: a small chunk goes to glibc's per-thread cache as it is (what the test
	 * would miss if it could not see it) */
	uintptr_t before = freed(200, 'x');
	assert_int_equal(left(before, 200, 'x'), 200 - LINKS);
	mem_wipe_freed_on();
	assert_true(mem_wipe_freed());
	uintptr_t small = freed(200, 'y');
	assert_int_equal(left(small, 200, 'y'), 0);
	uintptr_t large = freed(64 * 1024, 'z'); /* a bin's, or the top's */
	assert_int_equal(left(large, 64 * 1024, 'z'), 0);
}

static void test_realloc_moves_through_the_wiping_free(void **state)
{
	(void)state;
	if (SANITIZED)
		skip();
	mem_wipe_freed_on();
	assert_true(mem_wipe_freed());
	unsigned char *p = malloc(100);
	assert_non_null(p);
	memset(p, 'r', 100);
	volatile uintptr_t was = (uintptr_t)p;
	unsigned char *q = realloc(p, 8192);
	assert_non_null(q);
	assert_true((uintptr_t)q != was);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(q[i], 'r');
	assert_int_equal(left(was, 100, 'r'), 0);
	/* a shrink keeps the chunk: glibc would free its tail as it is */
	volatile uintptr_t kept = (uintptr_t)q;
	unsigned char *s = realloc(q, 50);
	assert_true((uintptr_t)s == kept);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_freed_chunks_overwritten_once_on),
	    cmocka_unit_test(test_realloc_moves_through_the_wiping_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

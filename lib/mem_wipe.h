/* mem_wipe.h: freed heap memory overwritten, in a process that serves other peers next.
 *
 * A reused process (lib/master.h reuse: the MX pair, the pre-login processes) and the
 * committer hand one peer's message to libraries that allocate with malloc and free
 * their buffers as they are: libetpan's MIME parse and header copies, expat's, libzip's
 * and zlib's, OpenSSL's records. The project's own buffers are wiped (buf_init_wiped);
 * these are not, and the next peer's session runs in the same heap. glibc's M_PERTURB
 * fills a chunk at free, but _int_free (glibc 2.36 malloc.c) puts a chunk in the
 * thread's cache (tcache: every chunk up to 1032 bytes, seven of each size) before it
 * perturbs, and that cache can only be turned off by GLIBC_TUNABLES at exec.
 *
 * So this file defines free and realloc, which by ELF interposition bind every
 * library's calls in the executable: once mem_wipe_freed_on() was called, free
 * overwrites a chunk's usable size (malloc_usable_size) before glibc's own free takes
 * it, and realloc that moves a chunk moves it by hand through that free. Otherwise
 * both are glibc's. Not in a sanitizer build: AddressSanitizer brings its own
 * allocator, and keeps freed memory in quarantine whatever we do. */
#ifndef MSS_MEM_WIPE_H
#define MSS_MEM_WIPE_H

#include <stdbool.h>

/* From now on in this process, what is freed is overwritten first. */
void mem_wipe_freed_on(void);
/* Whether it is on (false in a sanitizer build, where it cannot be). */
bool mem_wipe_freed(void);

#endif

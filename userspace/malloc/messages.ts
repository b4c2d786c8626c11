/**
 * glibc's malloc_printerr messages for the conditions this malloc detects,
 * word for word (glibc 2.3x malloc/malloc.c). Each one aborts the process
 * (SIGABRT) through UserProcess.abort.
 */

/** free(): the pointer is misaligned, wraps, or is not in the heap and not an mmapped chunk. */
export const FREE_INVALID_POINTER = "free(): invalid pointer";
/** free(): the chunk's size is below MINSIZE or runs past the heap. */
export const FREE_INVALID_SIZE = "free(): invalid size";
/** free(): the chunk is the top chunk. */
export const DOUBLE_FREE_TOP = "double free or corruption (top)";
/** free(): the chunk lies outside the arena's allocated part (in the top, or its next chunk past the top). */
export const DOUBLE_FREE_OUT = "double free or corruption (out)";
/** free(): the chunk is already free (its next chunk's PREV_INUSE is clear). */
export const DOUBLE_FREE_PREV = "double free or corruption (!prev)";
/** free(): the next chunk's size is impossible. */
export const FREE_INVALID_NEXT_SIZE = "free(): invalid next size (normal)";
/** free(): the previous chunk's size disagrees with the footer in front of this chunk. */
export const PREV_SIZE_CONSOLIDATING = "corrupted size vs. prev_size while consolidating";
/** unlink: a free chunk's size disagrees with its footer. */
export const SIZE_VS_PREV_SIZE = "corrupted size vs. prev_size";
/** unlink: a neighbour in the bin does not point back. */
export const CORRUPTED_LIST = "corrupted double-linked list";
/** malloc: the top chunk's size does not reach the end of the heap. */
export const CORRUPTED_TOP = "malloc(): corrupted top size";
/** malloc: a chunk taken from a bin is not a free chunk of that bin's sizes. */
export const MEMORY_CORRUPTION = "malloc(): memory corruption";
/** malloc: a small bin's second chunk does not point back at the first. */
export const SMALLBIN_CORRUPTED = "malloc(): smallbin double linked list corrupted";
/** free of an mmapped chunk whose mapping is not page-aligned or runs past the address space. */
export const MUNMAP_INVALID_POINTER = "munmap_chunk(): invalid pointer";
/** realloc(): the pointer is misaligned, wraps, or is not a chunk. */
export const REALLOC_INVALID_POINTER = "realloc(): invalid pointer";
/** realloc(): the chunk's size is impossible or the chunk is free. */
export const REALLOC_INVALID_OLD_SIZE = "realloc(): invalid old size";
/** realloc(): the next chunk's size is impossible. */
export const REALLOC_INVALID_NEXT_SIZE = "realloc(): invalid next size";
/** realloc of an mmapped chunk whose mapping is not page-aligned or runs past the address space. */
export const MREMAP_INVALID_POINTER = "mremap_chunk(): invalid pointer";
/** free(): a chunk whose key says it is cached is on its tcache list already. */
export const TCACHE_DOUBLE_FREE = "free(): double free detected in tcache 2";
/** free(): the tcache list being searched is longer than tcache_count (a forged link). */
export const TCACHE_TOO_MANY = "free(): too many chunks detected in tcache";
/** free(): an entry of the tcache list being searched is not 16-aligned. */
export const TCACHE_UNALIGNED_FREE = "free(): unaligned chunk detected in tcache 2";
/** malloc(): the tcache list's head is not 16-aligned (a forged link). */
export const TCACHE_UNALIGNED_MALLOC = "malloc(): unaligned tcache chunk detected";

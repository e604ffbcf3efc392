/* json_pool.c: the small-block allocator for cJSON (see json_pool.h). An arena is 1 MiB,
 * aligned to 1 MiB, and holds blocks of one size class; its header sits at its start, so a
 * block's class is found by masking its address. Each thread carves and recycles blocks through
 * its own free lists (no lock on the fast path); arenas are created under a mutex and kept on a
 * global list until vr_json_pool_release. It may not hand out memory that malloc could confuse
 * with its own: every pool block is 8 mod 16, every malloc block 16-aligned. The interned member
 * names live here too: they must outlive every tree, as the arenas do. */
#include "json_pool.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "strmap.h"

#define ARENA_BYTES ((uintptr_t)1 << 20)
#define STEP        16 /* size classes are 16, 32, ... VR_JSON_POOL_MAX bytes */
#define CLASSES     (VR_JSON_POOL_MAX / STEP)
#define FIRST_BLOCK 40 /* the header's 32 bytes + 8: blocks are 8 mod 16 */

_Static_assert(alignof(max_align_t) >= 16, "malloc blocks must be 16-aligned");
_Static_assert(FIRST_BLOCK % STEP == 8, "pool blocks must be 8 mod 16");

typedef struct arena {
  size_t size; /* the block size of this arena */
  struct arena *next;
} arena;

_Static_assert(sizeof(arena) <= FIRST_BLOCK - 8, "the arena header fits before the first block");

typedef struct free_block {
  struct free_block *next;
} free_block;

typedef struct thread_lists {
  free_block *free[CLASSES];
  char *next[CLASSES]; /* the bump region of the class's newest arena */
  char *end[CLASSES];
} thread_lists;

static _Thread_local thread_lists lists;
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static arena *arenas;
static size_t mapped;
static int installed;
static int exiting;

/* The interned names: name -> its lasting copy, under its own lock. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static vr_strmap interned;
static uint32_t next_intern_number; /* never reset: a number means one name for the process */

/* A new 1 MiB-aligned arena for blocks of size bytes, or NULL. */
static arena *new_arena(size_t size) {
  char *raw =
      mmap(NULL, 2 * ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uintptr_t start, lead;
  arena *a;
  if (raw == MAP_FAILED) return NULL;
  start = ((uintptr_t)raw + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
  lead = start - (uintptr_t)raw;
  if (lead > 0) munmap(raw, lead);
  munmap((char *)start + ARENA_BYTES, ARENA_BYTES - lead);
  a = (arena *)start;
  a->size = size;
  pthread_mutex_lock(&arenas_lock);
  a->next = arenas;
  arenas = a;
  mapped += ARENA_BYTES;
  pthread_mutex_unlock(&arenas_lock);
  return a;
}

void *vr_json_pool_alloc(size_t size) {
  size_t cls;
  char *block;
  if (size > VR_JSON_POOL_MAX) return malloc(size);
  cls = size ? (size - 1) / STEP : 0;
  if (lists.free[cls] != NULL) {
    free_block *f = lists.free[cls];
    lists.free[cls] = f->next;
    return f;
  }
  if (lists.next[cls] == NULL || lists.end[cls] - lists.next[cls] < (ptrdiff_t)((cls + 1) * STEP)) {
    arena *a = new_arena((cls + 1) * STEP);
    if (a == NULL) return NULL;
    lists.next[cls] = (char *)a + FIRST_BLOCK;
    lists.end[cls] = (char *)a + ARENA_BYTES;
  }
  block = lists.next[cls];
  lists.next[cls] += (cls + 1) * STEP;
  return block;
}

void vr_json_pool_free(void *block) {
  arena *a;
  free_block *f = block;
  size_t cls;
  if (((uintptr_t)block & 15u) != 8u) { /* NULL, or a malloc block */
    free(block);
    return;
  }
  a = (arena *)((uintptr_t)block & ~(ARENA_BYTES - 1));
  cls = a->size / STEP - 1;
  f->next = lists.free[cls];
  lists.free[cls] = f;
}

void *vr_json_pool_realloc(void *block, size_t old_size, size_t size) {
  void *moved;
  if (block == NULL) return vr_json_pool_alloc(size);
  if (((uintptr_t)block & 15u) != 8u) { /* a malloc block */
    if (size > VR_JSON_POOL_MAX) return realloc(block, size);
  } else if (size <= VR_JSON_POOL_MAX && size > 0 && (size - 1) / STEP == (old_size - 1) / STEP) {
    return block; /* the same size class */
  }
  moved = vr_json_pool_alloc(size);
  if (moved == NULL) return size <= old_size ? block : NULL; /* a shrink never fails */
  memcpy(moved, block, old_size < size ? old_size : size);
  vr_json_pool_free(block);
  return moved;
}

int vr_json_pool_installed(void) {
  return installed;
}

size_t vr_json_pool_mapped(void) {
  size_t n;
  pthread_mutex_lock(&arenas_lock);
  n = mapped;
  pthread_mutex_unlock(&arenas_lock);
  return n;
}

int vr_json_pool_install(void) {
  const char *env = getenv("VMRUN_JSON_POOL");
  cJSON_Hooks hooks = {vr_json_pool_alloc, vr_json_pool_free};
  if (env != NULL && strcmp(env, "0") == 0) return 0;
#if defined(__SANITIZE_ADDRESS__) || defined(VMRUN_ASAN)
  /* AddressSanitizer must see every block; "force" runs the pool anyway (its own test) */
  if (env == NULL || strcmp(env, "force") != 0) return 0;
#endif
  cJSON_InitHooks(&hooks);
  installed = 1;
  return 1;
}

/* An interned name sits behind this header: its number, and a mark that tells it from other
 * strings. */
typedef struct interned_header {
  uint32_t mark;
  uint32_t number;
} interned_header;

#define INTERNED_MARK 0x6e616d65u

const char *vr_json_intern(const char *name) {
  size_t len = strlen(name);
  char *found;
  if (len > VR_JSON_INTERN_MAX) return NULL;
  pthread_mutex_lock(&intern_lock);
  found = vr_strmap_get(&interned, name);
  if (found == NULL && vr_strmap_count(&interned) < VR_JSON_INTERN_LIMIT) {
    interned_header *h = malloc(sizeof *h + len + 1);
    if (h != NULL) {
      h->mark = INTERNED_MARK;
      h->number = next_intern_number++;
      found = (char *)(h + 1);
      memcpy(found, name, len + 1);
      if (vr_strmap_put(&interned, name, found) != 0) {
        free(h);
        found = NULL;
      }
    }
  }
  pthread_mutex_unlock(&intern_lock);
  return found;
}

long vr_json_intern_number(const char *interned_name) {
  const interned_header *h = (const interned_header *)interned_name - 1;
  return h->mark == INTERNED_MARK ? (long)h->number : -1;
}

int vr_json_pool_begin_exit(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(VMRUN_ASAN)
  exiting = 0; /* LeakSanitizer checks that everything is freed, also with the pool forced on */
#else
  exiting = installed;
#endif
  return exiting;
}

int vr_json_pool_exiting(void) {
  return exiting;
}

void vr_json_pool_release(void) {
  arena *a;
  if (installed) cJSON_InitHooks(NULL);
  installed = 0;
  exiting = 0;
  pthread_mutex_lock(&arenas_lock);
  a = arenas;
  arenas = NULL;
  mapped = 0;
  pthread_mutex_unlock(&arenas_lock);
  while (a != NULL) {
    arena *next = a->next;
    munmap(a, ARENA_BYTES);
    a = next;
  }
  memset(&lists, 0, sizeof lists); /* this thread's lists pointed into the arenas */
  pthread_mutex_lock(&intern_lock);
  {
    size_t pos = 0;
    void *copy;
    while (vr_strmap_next(&interned, &pos, NULL, &copy)) free((interned_header *)copy - 1);
    vr_strmap_clear(&interned);
  }
  pthread_mutex_unlock(&intern_lock);
}

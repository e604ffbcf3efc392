/* json_pool.c: the small-block allocator for cJSON and Lua (see json_pool.h). An arena is 1 MiB,
 * aligned to 1 MiB, and holds blocks of one size class; its header (with a bitmap of its free
 * blocks) sits at its start, so a block's arena is found by masking its address. Each thread
 * allocates from its own arenas, in address order from a cursor that goes round them (next
 * fit): a tree copied in one go lands in one stretch of memory, which the simulator then walks
 * again and again, and blocks freed behind the cursor are reused when it comes back. Freeing
 * only sets a bit, from any thread, provided no other thread allocates from or frees into that
 * arena at the same moment; in practice the block is the calling thread's or that of a thread
 * that has ended (an ended thread's arenas are adopted by the next thread
 * that runs out of room). No lock on the fast paths; arenas are created under a mutex and kept
 * on a global list until vr_json_pool_release. It may not hand out memory that malloc could
 * confuse with its own: every pool block is 8 mod 16, every malloc block 16-aligned. The
 * interned member names live here too: they must outlive every tree, as the arenas do. */
#include "json_pool.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "strmap.h"

#define ARENA_BYTES ((uintptr_t)1 << 20)
#define STEP        16 /* size classes are 16, 32, ... VR_JSON_POOL_MAX bytes */
#define CLASSES     (VR_JSON_POOL_MAX / STEP)

_Static_assert(alignof(max_align_t) >= 16, "malloc blocks must be 16-aligned");

/* An arena's header, at its start: then the bitmap of its blocks (1 = free), then the blocks
 * (the first at 8 mod 16). */
typedef struct arena {
  size_t size;            /* the block size */
  int domain;             /* DOMAIN_JSON or DOMAIN_LUA */
  struct arena *next;     /* every arena, for vr_json_pool_release */
  struct arena *orphaned; /* the arenas of ended threads, waiting for a new owner */
  char *first;            /* the first block */
  uint32_t blocks;        /* how many blocks */
  uint32_t free;          /* how many are free */
  uint32_t words;         /* bitmap words */
  uint32_t reciprocal;    /* ceil(2^32 / size): a block's index without a division */
  uint64_t bits[];
} arena;

/* A thread's arenas of one class and its cursor. Blocks are handed out in address order from
 * the cursor on (next fit), so a tree copied in one go lands in one stretch of memory, and the
 * blocks freed behind the cursor are reused when it comes round again. */
typedef struct class_state {
  arena **arenas;
  size_t n, cap;
  size_t at;     /* the cursor's arena */
  uint32_t word; /* and bitmap word */
} class_state;

/* cJSON's blocks and Lua's (vr_json_pool_realloc) come from separate arenas: a playbook's
 * short-lived tables would otherwise be scattered among the cluster's trees. */
enum { DOMAIN_JSON, DOMAIN_LUA, DOMAINS };

static _Thread_local class_state classes[DOMAINS][CLASSES];
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static arena *arenas;
static arena *orphans;          /* under arenas_lock */
static atomic_int orphans_wait; /* orphans != NULL, read without the lock */
static size_t mapped;
static int installed;
static pthread_t owner; /* the thread that installed the pool */
static int exiting;

/* The interned names: name -> its lasting copy, under its own lock. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static vr_strmap interned;
static uint32_t next_intern_number; /* never reset: a number means one name for the process */

/* Arenas are carved from slabs of SLAB_BYTES, 2 MiB-aligned; from the third slab on they are
 * marked for transparent huge pages (where the kernel does them on request): a large cluster is
 * hundreds of MiB of arenas, and 4 KiB pages cost a page fault each as they are first touched and
 * a TLB entry each as the trees are walked. Not the first two: a huge page is resident whole, and
 * the first arena of each size class would each make one so (a small run would take 10 MiB
 * more). Under arenas_lock: the current slab's next free arena and its end, and the slabs made. */
#define SLAB_BYTES  ((uintptr_t)32 << 20)
#define HUGE_BYTES  ((uintptr_t)2 << 20)
#define SMALL_SLABS 2
static uintptr_t slab_next, slab_end;
static int slabs_made;

/* The next 1 MiB of the current slab (a new slab when it is used up), or 0. Under arenas_lock. */
static uintptr_t take_arena_memory(void) {
  uintptr_t start;
  if (slab_next == slab_end) {
    char *raw = mmap(NULL, SLAB_BYTES + HUGE_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t lead;
    if (raw == MAP_FAILED) return 0;
    start = ((uintptr_t)raw + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    lead = start - (uintptr_t)raw;
    if (lead > 0) munmap(raw, lead);
    munmap((char *)start + SLAB_BYTES, HUGE_BYTES - lead);
#ifdef MADV_HUGEPAGE
    if (slabs_made >= SMALL_SLABS) /* a hint: refused is fine */
      (void)madvise((void *)start, SLAB_BYTES, MADV_HUGEPAGE);
#endif
    slabs_made++;
    slab_next = start;
    slab_end = start + SLAB_BYTES;
  }
  start = slab_next;
  slab_next += ARENA_BYTES;
  return start;
}

/* A new 1 MiB-aligned arena for blocks of size bytes, all free, or NULL. */
static arena *new_arena(int domain, size_t size) {
  uintptr_t start, header;
  uint32_t words, i;
  arena *a;
  pthread_mutex_lock(&arenas_lock);
  start = take_arena_memory();
  pthread_mutex_unlock(&arenas_lock);
  if (start == 0) return NULL;
  a = (arena *)start;
  words = (uint32_t)((ARENA_BYTES / size + 63) / 64);
  header = offsetof(arena, bits) + (uintptr_t)words * sizeof(uint64_t);
  header += (8 - header % 16 + 16) % 16; /* blocks are 8 mod 16 */
  a->size = size;
  a->domain = domain;
  a->first = (char *)start + header;
  a->blocks = (uint32_t)((ARENA_BYTES - header) / size);
  a->free = a->blocks;
  a->words = words;
  a->reciprocal = (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
  for (i = 0; i < words; i++) {
    uint32_t from = i * 64;
    a->bits[i] = from + 64 <= a->blocks ? ~(uint64_t)0
                 : from < a->blocks     ? ((uint64_t)1 << (a->blocks - from)) - 1
                                        : 0;
  }
  a->orphaned = NULL;
  pthread_mutex_lock(&arenas_lock);
  a->next = arenas;
  arenas = a;
  mapped += ARENA_BYTES;
  pthread_mutex_unlock(&arenas_lock);
  return a;
}

static void give_up_arenas(void *unused);
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int exit_key_made;

static void make_exit_key(void) {
  exit_key_made = pthread_key_create(&exit_key, give_up_arenas) == 0;
}

static int add_arena(class_state *c, arena *a) {
  pthread_once(&exit_key_once, make_exit_key);
  if (exit_key_made && pthread_getspecific(exit_key) == NULL) pthread_setspecific(exit_key, c);
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    arena **grown = realloc(c->arenas, cap * sizeof *grown);
    if (grown == NULL) return -1;
    c->arenas = grown;
    c->cap = cap;
  }
  c->arenas[c->n++] = a;
  return 0;
}

/* Takes the arenas that ended threads left; this thread allocates from them from now on. Their
 * blocks in use belong to whoever holds the trees now (the thread that joined the ended one),
 * which may free into them. Only the thread that installed the pool adopts (any thread when it
 * is not installed, as in its unit test), so that the one-thread-at-a-time rule of
 * vr_json_pool_free holds as long as trees change hands only at a join to that thread, as
 * vr_yaml_to_cjson's do. */
static void adopt_orphans(void) {
  arena *a;
  pthread_mutex_lock(&arenas_lock);
  a = orphans;
  orphans = NULL;
  atomic_store(&orphans_wait, 0);
  while (a != NULL) {
    arena *next = a->orphaned;
    a->orphaned = NULL;
    if (add_arena(&classes[a->domain][a->size / STEP - 1], a) != 0) { /* keep it for another time */
      a->orphaned = orphans;
      orphans = a;
      atomic_store(&orphans_wait, 1);
    }
    a = next;
  }
  pthread_mutex_unlock(&arenas_lock);
}

static void *take(class_state *c, arena *a, uint64_t w) {
  unsigned bit = (unsigned)__builtin_ctzll(w);
  a->bits[c->word] = w & (w - 1);
  a->free--;
  return a->first + ((size_t)c->word * 64 + bit) * a->size;
}

/* The cursor's word is used up: moves it on to the next free block, through the following
 * arenas and round to the start; adopts orphans or maps an arena when every one is full. */
static void *alloc_slow(int domain, class_state *c, size_t size) {
  size_t visited;
  arena *a;
  for (visited = 0; c->n > 0 && visited <= c->n; visited++) {
    a = c->arenas[c->at];
    if (a->free > 0) {
      uint32_t w;
      for (w = visited == 0 ? c->word : 0; w < a->words; w++) {
        if (a->bits[w] != 0) {
          c->word = w;
          return take(c, a, a->bits[w]);
        }
      }
    }
    c->at = (c->at + 1) % c->n;
    c->word = 0;
  }
  if (atomic_load(&orphans_wait) && (!installed || pthread_equal(pthread_self(), owner))) {
    size_t before = c->n;
    adopt_orphans();
    if (c->n > before) {
      c->at = before;
      c->word = 0;
      return alloc_slow(domain, c, size);
    }
  }
  if ((a = new_arena(domain, size)) == NULL) return NULL;
  if (add_arena(c, a) != 0) return NULL; /* mapped but unused until release */
  c->at = c->n - 1;
  c->word = 0;
  return take(c, a, a->bits[0]);
}

static void *alloc_in(int domain, size_t size) {
  class_state *c;
  size_t cls;
  if (size > VR_JSON_POOL_MAX) return malloc(size);
  cls = size ? (size - 1) / STEP : 0;
  c = &classes[domain][cls];
  if (c->n > 0) {
    arena *a = c->arenas[c->at];
    uint64_t w = a->bits[c->word];
    if (w != 0) return take(c, a, w);
  }
  return alloc_slow(domain, c, (cls + 1) * STEP);
}

void *vr_json_pool_alloc(size_t size) {
  return alloc_in(DOMAIN_JSON, size);
}

void vr_json_pool_free(void *block) {
  arena *a;
  uint32_t index;
  if (((uintptr_t)block & 15u) != 8u) { /* NULL, or a malloc block */
    free(block);
    return;
  }
  a = (arena *)((uintptr_t)block & ~(ARENA_BYTES - 1));
  index = (uint32_t)(((uint64_t)((char *)block - a->first) * a->reciprocal) >> 32);
  a->bits[index / 64] |= (uint64_t)1 << (index % 64);
  a->free++;
}

/* A thread that used the pool ends: its arenas become orphans for another thread to adopt
 * (the pthread key's destructor, set at the thread's first arena). */
static void give_up_arenas(void *unused) {
  size_t cls, i;
  (void)unused;
  pthread_mutex_lock(&arenas_lock);
  for (cls = 0; cls < DOMAINS * CLASSES; cls++) {
    class_state *c = &classes[cls / CLASSES][cls % CLASSES];
    for (i = 0; i < c->n; i++) {
      c->arenas[i]->orphaned = orphans;
      orphans = c->arenas[i];
    }
    free(c->arenas);
    memset(c, 0, sizeof *c);
  }
  atomic_store(&orphans_wait, orphans != NULL);
  pthread_mutex_unlock(&arenas_lock);
}

void *vr_json_pool_realloc(void *block, size_t old_size, size_t size) {
  void *moved;
  if (size == 0) { /* as realloc(block, 0) in C17: freed, and no block */
    vr_json_pool_free(block);
    return NULL;
  }
  if (block == NULL) return alloc_in(DOMAIN_LUA, size);
  if (((uintptr_t)block & 15u) != 8u) { /* a malloc block */
    if (size > VR_JSON_POOL_MAX) return realloc(block, size);
  } else if (size <= VR_JSON_POOL_MAX && size > 0 && (size - 1) / STEP == (old_size - 1) / STEP) {
    return block; /* the same size class */
  }
  moved = alloc_in(DOMAIN_LUA, size);
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
  owner = pthread_self();
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
  pthread_mutex_lock(&arenas_lock);
  if (slab_next != slab_end) munmap((void *)slab_next, slab_end - slab_next); /* never handed out */
  slab_next = slab_end = 0;
  slabs_made = 0;
  orphans = NULL;
  atomic_store(&orphans_wait, 0);
  pthread_mutex_unlock(&arenas_lock);
  for (size_t cls = 0; cls < DOMAINS * CLASSES; cls++) { /* this thread's arenas are gone */
    class_state *c = &classes[cls / CLASSES][cls % CLASSES];
    free(c->arenas);
    memset(c, 0, sizeof *c);
  }
  pthread_mutex_lock(&intern_lock);
  {
    size_t pos = 0;
    void *copy;
    while (vr_strmap_next(&interned, &pos, NULL, &copy)) free((interned_header *)copy - 1);
    vr_strmap_clear(&interned);
  }
  pthread_mutex_unlock(&intern_lock);
}

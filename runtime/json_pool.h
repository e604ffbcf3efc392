/* json_pool.h: a small-block allocator for cJSON and Lua. A simulated cluster is tens of
 * millions of cJSON nodes and short strings that are copied and freed on every status change,
 * and every object a playbook reads becomes Lua tables and strings that live briefly; the
 * general malloc spends much of the simulator's time on them (and more again freeing them at
 * exit).
 * Blocks of up to VR_JSON_POOL_MAX bytes come from 1 MiB arenas of one size class each (no
 * per-block header; a bitmap per arena) and are handed out in address order (next fit), so that
 * what is copied together lies together; larger ones go to malloc. A pool block is told from a
 * malloc block by its address (pool blocks are 8 mod 16, malloc's are 16-aligned), so
 * vr_json_pool_free takes either. A block may be freed by any thread, but not while the thread
 * that allocated it may still be allocating from its arena: give trees to another thread only
 * once their builder has ended (vr_yaml_to_cjson joins its parser thread first).
 *
 * vr_json_pool_install makes cJSON use the pool (main does, before anything else), and the host
 * then gives Lua's allocator to it as well (blocks are 8-aligned, as Lua needs). It does
 * nothing in AddressSanitizer builds (unless VMRUN_JSON_POOL=force: the test that runs the
 * simulator on the pool there), or when VMRUN_JSON_POOL=0 is in the environment (for
 * valgrind), so that memory checkers see every cJSON block. Arena memory is not returned to the
 * system before vr_json_pool_release. No Lua, no cJSON trees here. */
#ifndef VMRUN_JSON_POOL_H
#define VMRUN_JSON_POOL_H

#include <stddef.h>

#define VR_JSON_POOL_MAX 256

/* Makes cJSON allocate from the pool; returns 1 when installed, 0 when left on malloc. */
int vr_json_pool_install(void);
/* Marks the process as exiting: returns 1 when the pool is installed, and from then on
 * vr_json_pool_exiting() is 1, telling owners of big cJSON trees (the simulated cluster) that
 * they need not free them block by block: vr_json_pool_release unmaps them all at once. Blocks
 * above VR_JSON_POOL_MAX in such trees are left to the process exit. Memory checkers never see
 * this: they run without the pool. */
int vr_json_pool_begin_exit(void);
int vr_json_pool_exiting(void);

/* Puts cJSON back on malloc and unmaps every arena. Only when no pool block is in use any more
 * and no other thread that used the pool is still running (the end of main). */
void vr_json_pool_release(void);

/* The allocator itself (what the hooks call; usable without installing). alloc returns NULL
 * when out of memory. */
void *vr_json_pool_alloc(size_t size);
void vr_json_pool_free(void *block);
/* realloc for callers that know a block's size: Lua's allocator, whose blocks come from arenas
 * apart from cJSON's (short-lived tables would otherwise be scattered among the cluster's
 * trees). A block stays where it is while its size class holds the new size; otherwise the
 * contents move to a block of the new size (pool or malloc). Size 0 frees the block and returns
 * NULL. Otherwise returns NULL only when growing and out of memory (the block is then left as it
 * was); a shrink that finds no memory returns the block itself. */
void *vr_json_pool_realloc(void *block, size_t old_size, size_t size);
/* 1 when vr_json_pool_install has put cJSON on the pool (the host then puts Lua on it too). */
int vr_json_pool_installed(void);

/* Object member names. A cluster repeats a few hundred names ("metadata", "name", label keys)
 * millions of times; the converters that build trees from YAML and Lua give members an interned
 * name (cJSON_AddItemToObjectCS) and cJSON_Duplicate keeps sharing it. Returns the interned copy
 * of name, or NULL when name is longer than VR_JSON_INTERN_MAX, the table is full
 * (VR_JSON_INTERN_LIMIT names) or memory is short: the caller then copies the name as usual.
 * Interned names live until vr_json_pool_release. Thread-safe. */
#define VR_JSON_INTERN_MAX   128
#define VR_JSON_INTERN_LIMIT 65536
const char *vr_json_intern(const char *name);
/* The number of a name vr_json_intern returned: 0, 1, 2 ... in the order the names were first
 * interned, never given to another name (also not after vr_json_pool_release), so that a
 * converter can keep its own copy of each name
 * in an array (json.c keeps the Lua strings). Only for names that vr_json_intern returned, which
 * are the only ones ever given to cJSON_AddItemToObjectCS (a member with cJSON_StringIsConst has
 * one); returns -1 if the name has no interned mark. */
long vr_json_intern_number(const char *interned_name);

/* Bytes of arena memory mapped so far (for tests and benchmarks). */
size_t vr_json_pool_mapped(void);

#endif

/* strmap.h: a hash map from strings to pointers (open addressing, linear probing, FNV-1a).
 * The map owns copies of its keys; it never owns or frees the values. Lookups and inserts are
 * O(1) on average; iteration order is unspecified. Functions return -1 on allocation failure and
 * leave the map unchanged. No Lua here. */
#ifndef VMRUN_STRMAP_H
#define VMRUN_STRMAP_H

#include <stddef.h>

typedef struct vr_strmap_slot {
  char *key; /* NULL: empty; VR_STRMAP_TOMBSTONE: removed */
  void *value;
  size_t hash;
} vr_strmap_slot;

typedef struct vr_strmap {
  vr_strmap_slot *slots;
  size_t cap;  /* power of two, or 0 */
  size_t used; /* live entries */
  size_t dead; /* tombstones */
} vr_strmap;

void vr_strmap_init(vr_strmap *m);
/* Frees the keys and the table (not the values). */
void vr_strmap_clear(vr_strmap *m);
/* Empties the map; a small table is kept for the next entries (maps refilled over and over). */
void vr_strmap_reset(vr_strmap *m);
void *vr_strmap_get(const vr_strmap *m, const char *key);
/* Sets key to value (replacing an existing value). Returns 0, or -1 when out of memory. */
int vr_strmap_put(vr_strmap *m, const char *key, void *value);
/* Removes key; returns its value or NULL. The last removal frees the table: an iteration
 * then ends, provided the loop adds nothing afterwards. */
void *vr_strmap_remove(vr_strmap *m, const char *key);
size_t vr_strmap_count(const vr_strmap *m);
/* Iteration: start with *pos = 0; returns 0 at the end. */
int vr_strmap_next(const vr_strmap *m, size_t *pos, const char **key, void **value);

#endif

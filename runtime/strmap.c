/* strmap.c: string-keyed hash map (see strmap.h). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone_key;
#define TOMBSTONE (&tombstone_key)

/* Eight bytes at a time, then a 64-bit finaliser (the table masks the low bits). */
static size_t hash_string(const char *s) {
  size_t n = strlen(s);
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n, w;
  for (; n >= 8; n -= 8, s += 8) {
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  return (size_t)h;
}

void vr_strmap_init(vr_strmap *m) {
  memset(m, 0, sizeof *m);
}

void vr_strmap_clear(vr_strmap *m) {
  size_t i;
  for (i = 0; i < m->cap; i++) {
    if (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE) free(m->slots[i].key);
  }
  free(m->slots);
  vr_strmap_init(m);
}

void vr_strmap_reset(vr_strmap *m) {
  size_t i;
  if (m->cap > 128) { /* clearing a big table costs more than growing a new one */
    vr_strmap_clear(m);
    return;
  }
  for (i = 0; i < m->cap; i++) {
    if (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE) free(m->slots[i].key);
  }
  if (m->cap > 0) memset(m->slots, 0, m->cap * sizeof *m->slots);
  m->used = 0;
  m->dead = 0;
}

/* The slot holding key, or NULL. */
static vr_strmap_slot *find(const vr_strmap *m, const char *key, size_t hash) {
  size_t mask, i;
  if (m->cap == 0) return NULL;
  mask = m->cap - 1;
  for (i = hash & mask;; i = (i + 1) & mask) {
    vr_strmap_slot *s = &m->slots[i];
    if (s->key == NULL) return NULL;
    if (s->key != TOMBSTONE && s->hash == hash && strcmp(s->key, key) == 0) return s;
  }
}

static int grow(vr_strmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16, i;
  vr_strmap_slot *old = m->slots, *slots;
  if (m->cap && (m->used + 1) * 4 < m->cap * 3 / 2) ncap = m->cap; /* mostly tombstones: rehash */
  slots = calloc(ncap, sizeof *slots);
  if (slots == NULL) return -1;
  for (i = 0; i < m->cap; i++) {
    if (old[i].key != NULL && old[i].key != TOMBSTONE) {
      size_t j = old[i].hash & (ncap - 1);
      while (slots[j].key != NULL) j = (j + 1) & (ncap - 1);
      slots[j] = old[i];
    }
  }
  free(old);
  m->slots = slots;
  m->cap = ncap;
  m->dead = 0;
  return 0;
}

void *vr_strmap_get(const vr_strmap *m, const char *key) {
  vr_strmap_slot *s = find(m, key, hash_string(key));
  return s ? s->value : NULL;
}

int vr_strmap_put(vr_strmap *m, const char *key, void *value) {
  size_t hash = hash_string(key), mask, i;
  vr_strmap_slot *s = find(m, key, hash);
  char *copy;
  if (s != NULL) {
    s->value = value;
    return 0;
  }
  if ((m->used + m->dead + 1) * 4 > m->cap * 3 && grow(m) != 0) return -1;
  copy = strdup(key);
  if (copy == NULL) return -1;
  mask = m->cap - 1;
  for (i = hash & mask; m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE;
       i = (i + 1) & mask) {}
  if (m->slots[i].key == TOMBSTONE) m->dead--;
  m->slots[i].key = copy;
  m->slots[i].value = value;
  m->slots[i].hash = hash;
  m->used++;
  return 0;
}

void *vr_strmap_remove(vr_strmap *m, const char *key) {
  vr_strmap_slot *s = find(m, key, hash_string(key));
  void *value;
  if (s == NULL) return NULL;
  value = s->value;
  free(s->key);
  s->key = TOMBSTONE;
  s->value = NULL;
  m->used--;
  m->dead++;
  if (m->used == 0) { /* an emptied map gives its table back (iterating it was O(old size)) */
    free(m->slots);
    vr_strmap_init(m);
  }
  return value;
}

size_t vr_strmap_count(const vr_strmap *m) {
  return m->used;
}

int vr_strmap_next(const vr_strmap *m, size_t *pos, const char **key, void **value) {
  while (*pos < m->cap) {
    vr_strmap_slot *s = &m->slots[(*pos)++];
    if (s->key != NULL && s->key != TOMBSTONE) {
      if (key) *key = s->key;
      if (value) *value = s->value;
      return 1;
    }
  }
  return 0;
}

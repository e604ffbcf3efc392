/* test_json_pool.c: unit tests of runtime/json_pool.c, the small-block allocator for cJSON and
 * Lua: size classes, blocks in address order and their reuse, telling pool blocks from malloc
 * blocks, blocks of an ended thread freed here and its arenas adopted, realloc with a known size
 * (Lua's allocator), cJSON trees built, copied, printed and freed through it, interned names,
 * and release. The allocator is called directly (in sanitizer builds vr_json_pool_install
 * leaves cJSON on malloc). */
#include "check.h"
#include "json_pool.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA ((size_t)1 << 20)

static void *from_other_thread(void *arg) {
  (void)arg;
  return vr_json_pool_alloc(48);
}

int main(void) {
  void *blocks[VR_JSON_POOL_MAX + 1];
  size_t size;
  cJSON_Hooks hooks = {vr_json_pool_alloc, vr_json_pool_free};

  /* every size up to the limit is a pool block (8 mod 16), writable to its full size; larger
   * ones are malloc blocks (16-aligned) */
  for (size = 0; size <= VR_JSON_POOL_MAX; size++) {
    blocks[size] = vr_json_pool_alloc(size);
    CHECK(blocks[size] != NULL && ((uintptr_t)blocks[size] & 15u) == 8u);
    if (blocks[size] != NULL) memset(blocks[size], 0xab, size);
  }
  {
    void *big = vr_json_pool_alloc(VR_JSON_POOL_MAX + 1);
    CHECK(big != NULL && ((uintptr_t)big & 15u) == 0u);
    if (big != NULL) memset(big, 0xcd, VR_JSON_POOL_MAX + 1);
    vr_json_pool_free(big);
  }
  /* one arena per size class so far (16 classes of 16 bytes) */
  CHECK(vr_json_pool_mapped() == (VR_JSON_POOL_MAX / 16) * ARENA);
  for (size = 0; size <= VR_JSON_POOL_MAX; size++) vr_json_pool_free(blocks[size]);
  vr_json_pool_free(NULL);

  /* blocks come in address order from a cursor (next fit): one after the other in a fresh
   * stretch; a block freed where the cursor is (its 64-block word) comes back first, lowest
   * address first; blocks of one class never serve another */
  {
    char *a = vr_json_pool_alloc(64), *b = vr_json_pool_alloc(64), *c, *d;
    CHECK(a != NULL && b == a + 64);
    vr_json_pool_free(b);
    vr_json_pool_free(a);
    CHECK(vr_json_pool_alloc(128) != a);
    c = vr_json_pool_alloc(60); /* 49..64 bytes share the class */
    d = vr_json_pool_alloc(64);
    CHECK(c == a && d == b);
    vr_json_pool_free(c);
    vr_json_pool_free(d);
  }

  /* what is freed is reused: filling more than an arena twice maps no more arenas the second
   * time */
  {
    enum { N = 30000 }; /* 64-byte blocks: about two arenas */
    void **many = calloc(N, sizeof *many);
    size_t before;
    int i, round;
    CHECK(many != NULL);
    for (round = 0; many && round < 2; round++) {
      before = vr_json_pool_mapped();
      for (i = 0; i < N; i++) many[i] = vr_json_pool_alloc(64);
      if (round == 1) CHECK(vr_json_pool_mapped() == before);
      for (i = 0; i < N; i++) vr_json_pool_free(many[i]);
    }
    free(many);
  }

  /* blocks never overlap: fill many, check each still holds its own byte */
  {
    enum { N = 100000 };
    unsigned char **many = calloc(N, sizeof *many);
    int i, intact = 1;
    CHECK(many != NULL);
    for (i = 0; many && i < N; i++) {
      many[i] = vr_json_pool_alloc(16 + (size_t)(i % 3) * 16);
      if (many[i]) memset(many[i], i & 0xff, 16 + (size_t)(i % 3) * 16);
    }
    for (i = 0; many && i < N; i++) {
      size_t k, n = 16 + (size_t)(i % 3) * 16;
      for (k = 0; many[i] && k < n; k++) intact &= many[i][k] == (unsigned char)(i & 0xff);
    }
    CHECK(intact);
    for (i = 0; many && i < N; i++) vr_json_pool_free(many[i]);
    free(many);
  }

  /* a block from a thread that has ended is freed here, and its arena is adopted by this
   * thread when it runs out of room (48-byte blocks: one arena's worth twice over needs one
   * new arena, not two) */
  {
    pthread_t t;
    void *other = NULL, **many;
    size_t per_arena = (ARENA - 8192) / 48, i, before;
    CHECK(pthread_create(&t, NULL, from_other_thread, NULL) == 0);
    CHECK(pthread_join(t, &other) == 0);
    CHECK(other != NULL && ((uintptr_t)other & 15u) == 8u);
    vr_json_pool_free(other);
    many = calloc(2 * per_arena, sizeof *many);
    CHECK(many != NULL);
    before = vr_json_pool_mapped();
    for (i = 0; many && i < 2 * per_arena; i++) many[i] = vr_json_pool_alloc(48);
    CHECK(vr_json_pool_mapped() - before <= ARENA);
    for (i = 0; many && i < 2 * per_arena; i++) vr_json_pool_free(many[i]);
    free(many);
  }

  /* realloc with the old size: in place within a class, contents kept across classes and
   * between pool and malloc blocks */
  {
    unsigned char *p = vr_json_pool_realloc(NULL, 0, 20), *q;
    size_t i;
    int kept = 1;
    CHECK(p != NULL && ((uintptr_t)p & 15u) == 8u);
    for (i = 0; p && i < 20; i++) p[i] = (unsigned char)i;
    CHECK(vr_json_pool_realloc(p, 20, 32) == p); /* 17..32 bytes: the same class */
    q = vr_json_pool_realloc(p, 32, 100);
    CHECK(q != NULL && q != p && ((uintptr_t)q & 15u) == 8u);
    for (i = 0; q && i < 20; i++) kept &= q[i] == (unsigned char)i;
    CHECK(kept);
    p = vr_json_pool_realloc(q, 100, 5000); /* to malloc */
    CHECK(p != NULL && ((uintptr_t)p & 15u) == 0u);
    for (i = 0; p && i < 20; i++) kept &= p[i] == (unsigned char)i;
    if (p) memset(p + 20, 0x5a, 5000 - 20);
    q = vr_json_pool_realloc(p, 5000, 9000); /* malloc to malloc */
    CHECK(q != NULL && ((uintptr_t)q & 15u) == 0u);
    for (i = 0; q && i < 5000; i++) kept &= q[i] == (i < 20 ? (unsigned char)i : 0x5a);
    p = vr_json_pool_realloc(q, 9000, 10); /* back to a pool block, shrunk */
    CHECK(p != NULL && ((uintptr_t)p & 15u) == 8u);
    for (i = 0; p && i < 10; i++) kept &= p[i] == (unsigned char)i;
    CHECK(kept);
    CHECK(vr_json_pool_realloc(p, 10, 0) == NULL); /* size 0 frees */
  }

  /* cJSON through the pool: parse, duplicate, edit, print, delete */
  cJSON_InitHooks(&hooks);
  {
    const char *text = "{\"metadata\":{\"name\":\"vm-1\",\"labels\":{\"app\":\"db\"}},"
                       "\"spec\":{\"running\":true,\"memory\":\"4Gi\",\"disks\":[1,2,3]}}";
    cJSON *doc = cJSON_Parse(text), *copy;
    char *printed;
    CHECK(doc != NULL);
    copy = cJSON_Duplicate(doc, 1);
    CHECK(cJSON_Compare(doc, copy, 1));
    cJSON_AddStringToObject(cJSON_GetObjectItem(copy, "metadata"), "namespace",
                            "a-namespace-name-longer-than-the-largest-pool-class-to-go-through-"
                            "malloc-instead-a-namespace-name-longer-than-the-largest-pool-class-"
                            "to-go-through-malloc-instead-a-namespace-name-longer-than-the-"
                            "largest-pool-class-to-go-through-malloc-instead-xxxxxxxxxxxxxxxxxxxx");
    cJSON_DeleteItemFromObject(doc, "spec");
    printed = cJSON_PrintUnformatted(doc);
    if (printed != NULL) {
      CHECK(strcmp(printed, "{\"metadata\":{\"name\":\"vm-1\",\"labels\":{\"app\":\"db\"}}}") == 0);
    } else {
      CHECK(printed != NULL);
    }
    cJSON_free(printed);
    printed = cJSON_PrintUnformatted(copy);
    CHECK(printed != NULL && strstr(printed, "xxxxxxxx\"") != NULL);
    cJSON_free(printed);
    cJSON_Delete(doc);
    cJSON_Delete(copy);
  }
  cJSON_InitHooks(NULL);

  /* interned member names: one copy per name, shared by duplicated trees */
  {
    char longname[VR_JSON_INTERN_MAX + 2];
    const char *a = vr_json_intern("metadata"), *b;
    cJSON *obj = cJSON_CreateObject(), *copy;
    char buf[16];
    snprintf(buf, sizeof buf, "meta%s", "data"); /* the same name at another address */
    b = vr_json_intern(buf);
    CHECK(a != NULL && a == b && strcmp(a, "metadata") == 0);
    CHECK(vr_json_intern("spec") != a);
    memset(longname, 'k', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(vr_json_intern(longname) == NULL); /* too long: the caller copies it */
    longname[VR_JSON_INTERN_MAX] = '\0';
    CHECK(vr_json_intern(longname) != NULL);
    cJSON_AddItemToObjectCS(obj, a, cJSON_CreateString("x"));
    copy = cJSON_Duplicate(obj, 1);
    CHECK(copy != NULL && copy->child != NULL && copy->child->string == a);
    cJSON_Delete(obj);
    cJSON_Delete(copy);
    CHECK(vr_json_intern("metadata") == a); /* still there after the trees are gone */
    /* numbers: one per name, in interning order */
    CHECK(vr_json_intern_number(a) >= 0 &&
          vr_json_intern_number(vr_json_intern("spec")) == vr_json_intern_number(a) + 1);
    {
      char plain[32] = {0};
      memcpy(plain + 16, "metadata", 9); /* a copy of the name, not the interned one */
      CHECK(vr_json_intern_number(plain + 16) == -1);
    }
  }

  /* the table holds VR_JSON_INTERN_LIMIT names; then new names are left to the caller, known
   * ones still come back */
  {
    char name[32];
    int i, taken = 0, refused = 0;
    for (i = 0; i < VR_JSON_INTERN_LIMIT + 10; i++) {
      snprintf(name, sizeof name, "label-%d", i);
      if (vr_json_intern(name) != NULL) {
        taken++;
      } else {
        refused++;
      }
    }
    CHECK(refused > 0 && taken < VR_JSON_INTERN_LIMIT);
    CHECK(vr_json_intern("label-0") != NULL && strcmp(vr_json_intern("label-0"), "label-0") == 0);
    snprintf(name, sizeof name, "label-%d", VR_JSON_INTERN_LIMIT + 9);
    CHECK(vr_json_intern(name) == NULL);
  }

  /* release unmaps every arena; the allocator starts over afterwards */
  vr_json_pool_release();
  CHECK(vr_json_pool_mapped() == 0);
  {
    void *again = vr_json_pool_alloc(24);
    CHECK(again != NULL && vr_json_pool_mapped() == ARENA);
    vr_json_pool_free(again);
    vr_json_pool_release();
  }
  return CHECK_DONE();
}

/* test_strmap.c: the string hash map: put/get/replace/remove, growth, tombstone reuse and
 * rehashing under churn, iteration visiting every live entry once. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "strmap.h"

int main(void) {
  vr_strmap m;
  char key[32];
  size_t pos = 0, seen = 0;
  const char *k;
  void *v;
  int i, round, ok = 1;
  vr_strmap_init(&m);
  CHECK(vr_strmap_get(&m, "absent") == NULL);
  CHECK(vr_strmap_remove(&m, "absent") == NULL);
  CHECK(vr_strmap_next(&m, &pos, &k, &v) == 0);
  for (i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    CHECK(vr_strmap_put(&m, key, (void *)(intptr_t)(i + 1)) == 0);
  }
  CHECK(vr_strmap_count(&m) == 10000);
  for (i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    if (vr_strmap_get(&m, key) != (void *)(intptr_t)(i + 1)) ok = 0;
  }
  CHECK(ok);
  CHECK(vr_strmap_put(&m, "key-5", (void *)7) == 0); /* replace keeps the count */
  CHECK(vr_strmap_count(&m) == 10000 && vr_strmap_get(&m, "key-5") == (void *)7);
  for (i = 0; i < 10000; i += 2) {
    snprintf(key, sizeof key, "key-%d", i);
    CHECK(vr_strmap_remove(&m, key) != NULL || i == 0);
  }
  CHECK(vr_strmap_count(&m) == 5000);
  CHECK(vr_strmap_get(&m, "key-2") == NULL && vr_strmap_get(&m, "key-3") == (void *)4);
  /* churn: insert and remove many times, the table must not fill up with tombstones */
  for (round = 0; round < 50; round++) {
    for (i = 0; i < 1000; i++) {
      snprintf(key, sizeof key, "churn-%d-%d", round, i);
      vr_strmap_put(&m, key, (void *)1);
    }
    for (i = 0; i < 1000; i++) {
      snprintf(key, sizeof key, "churn-%d-%d", round, i);
      vr_strmap_remove(&m, key);
    }
  }
  CHECK(vr_strmap_count(&m) == 5000);
  CHECK(m.cap <= 32768);
  pos = 0;
  while (vr_strmap_next(&m, &pos, &k, &v)) seen++;
  CHECK(seen == 5000);
  vr_strmap_clear(&m);
  CHECK(vr_strmap_count(&m) == 0 && vr_strmap_get(&m, "key-3") == NULL);

  /* removing the last entry gives the table back, also in the middle of an iteration */
  vr_strmap_put(&m, "a", (void *)1);
  vr_strmap_put(&m, "b", (void *)2);
  pos = 0;
  seen = 0;
  while (vr_strmap_next(&m, &pos, &k, NULL)) {
    char copy[8];
    snprintf(copy, sizeof copy, "%s", k);
    vr_strmap_remove(&m, copy);
    seen++;
  }
  CHECK(seen >= 1 && vr_strmap_count(&m) <= 1);
  vr_strmap_remove(&m, "a");
  vr_strmap_remove(&m, "b");
  CHECK(vr_strmap_count(&m) == 0 && m.cap == 0 && m.slots == NULL);

  /* reset empties a small map and keeps its table; a big one is freed */
  vr_strmap_put(&m, "x", (void *)1);
  vr_strmap_reset(&m);
  CHECK(vr_strmap_count(&m) == 0 && m.cap == 16 && vr_strmap_get(&m, "x") == NULL);
  CHECK(vr_strmap_put(&m, "y", (void *)2) == 0 && vr_strmap_get(&m, "y") == (void *)2);
  for (i = 0; i < 2000; i++) {
    snprintf(key, sizeof key, "big-%d", i);
    vr_strmap_put(&m, key, (void *)1);
  }
  vr_strmap_reset(&m);
  CHECK(vr_strmap_count(&m) == 0 && m.cap == 0);
  vr_strmap_clear(&m);
  return CHECK_DONE();
}

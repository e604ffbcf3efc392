/* check_json.h: test-only JSON literals for vmrun's C unit tests: J("{'a': 1}") parses JSON
 * written with ' for " (NULL for NULL); a parse failure fails the test. Include after check.h
 * and cJSON. The caller frees the result with cJSON_Delete. */
#ifndef VMRUN_TEST_CHECK_JSON_H
#define VMRUN_TEST_CHECK_JSON_H

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *J(const char *text) {
  char *copy, *p;
  cJSON *v;
  if (text == NULL) return NULL;
  copy = malloc(strlen(text) + 1);
  if (copy == NULL) return NULL;
  strcpy(copy, text);
  for (p = copy; *p; p++) {
    if (*p == '\'') *p = '"';
  }
  v = cJSON_Parse(copy);
  if (v == NULL) fprintf(stderr, "bad test JSON: %s\n", text);
  CHECK(v != NULL);
  free(copy);
  return v;
}

#endif

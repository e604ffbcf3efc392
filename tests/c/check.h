/* check.h: the assertion macros of vmrun's C unit tests. A failed CHECK prints file:line and the
 * expression and counts a failure; CHECK_DONE() returns the process exit status. */
#ifndef VMRUN_TEST_CHECK_H
#define VMRUN_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(expr)                                                                                \
  do {                                                                                             \
    check_count++;                                                                                 \
    if (!(expr)) {                                                                                 \
      check_failures++;                                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                     \
    }                                                                                              \
  } while (0)

#define CHECK_STR(actual, expected)                                                                \
  do {                                                                                             \
    const char *check_a_ = (actual), *check_e_ = (expected);                                       \
    check_count++;                                                                                 \
    if (check_a_ == NULL || strcmp(check_a_, check_e_) != 0) {                                     \
      check_failures++;                                                                            \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, check_e_,        \
              check_a_ ? check_a_ : "(null)");                                                     \
    }                                                                                              \
  } while (0)

#define CHECK_CONTAINS(actual, needle)                                                             \
  do {                                                                                             \
    const char *check_a_ = (actual), *check_n_ = (needle);                                         \
    check_count++;                                                                                 \
    if (check_a_ == NULL || strstr(check_a_, check_n_) == NULL) {                                  \
      check_failures++;                                                                            \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,               \
              check_a_ ? check_a_ : "(null)", check_n_);                                           \
    }                                                                                              \
  } while (0)

#define CHECK_DONE()                                                                               \
  (fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures), check_failures ? 1 : 0)

#endif

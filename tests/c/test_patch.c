/* test_patch.c: unit tests of runtime/patch.c: the RFC 7386 and RFC 6902 appendix cases (test data
 * written for these tests after the cases the RFCs describe), JSON Pointer escapes, atomicity of
 * JSON patches, the strategic merge patches kubectl, the Python client and Ansible send (cordon,
 * uncordon, labels, annotations, taints) and the strategy table (conditions by type, containers
 * by name with directives, finalizers, ownerReferences, $setElementOrder, $retainKeys), unknown
 * kinds, error messages, depth limits, malformed trees and a memory failure at every allocation.
 * Every helper also checks that the inputs are unchanged afterwards. */
#include "check.h"
#include "patch.h"

#include <stdlib.h>
#include <string.h>

/* Set around cases whose inputs hold duplicate member names: cJSON_Compare looks members up by
 * name and so never finds such objects equal, even to an exact copy; their printed text is
 * compared instead. */
static int inputs_have_duplicates = 0;

typedef cJSON *(*patch_fn)(const cJSON *doc, const cJSON *patch, const char *kind,
                           vr_patch_error *err);

static cJSON *run_merge(const cJSON *doc, const cJSON *patch, const char *kind,
                        vr_patch_error *err) {
  (void)kind;
  return vr_patch_merge(doc, patch, err);
}

static cJSON *run_json(const cJSON *doc, const cJSON *patch, const char *kind,
                       vr_patch_error *err) {
  (void)kind;
  return vr_patch_json(doc, patch, err);
}

static cJSON *run_smp(const cJSON *doc, const cJSON *patch, const char *kind, vr_patch_error *err) {
  return vr_patch_strategic(doc, patch, kind, err);
}

static cJSON *parse(const char *text) {
  cJSON *j = cJSON_Parse(text);
  if (j == NULL) fprintf(stderr, "test data does not parse: %s\n", text);
  return j;
}

/* Prints j compactly into a static buffer, for messages and exact-order comparisons. */
static const char *show(const cJSON *j) {
  static char buf[8192];
  char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
  snprintf(buf, sizeof buf, "%s", text != NULL ? text : "(null)");
  cJSON_free(text);
  return buf;
}

/* Runs fn(doc, patch) and checks the outcome. expected NULL: failure with want_kind and exactly
 * want_msg. Otherwise success with a result equal to expected: as JSON values (object member order
 * ignored), or as exact compact text when exact_text is set. In every case doc and patch must be
 * unchanged (cJSON_Compare with copies saved before the call, and their printed text). */
static int outcome(patch_fn fn, const char *kind, const char *doc_text, const char *patch_text,
                   const char *expected_text, int exact_text, vr_patch_fail want_kind,
                   const char *want_msg) {
  cJSON *doc = parse(doc_text), *patch = parse(patch_text), *doc_copy, *patch_copy, *out;
  cJSON *expected = expected_text != NULL ? parse(expected_text) : NULL;
  char doc_before[8192], patch_before[8192];
  vr_patch_error err;
  int ok = 1;
  if (doc == NULL || patch == NULL || (expected_text != NULL && expected == NULL)) {
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    cJSON_Delete(expected);
    return 0;
  }
  doc_copy = cJSON_Duplicate(doc, 1);
  patch_copy = cJSON_Duplicate(patch, 1);
  snprintf(doc_before, sizeof doc_before, "%s", show(doc));
  snprintf(patch_before, sizeof patch_before, "%s", show(patch));
  memset(&err, 0x55, sizeof err);
  out = fn(doc, patch, kind, &err);
  if (expected_text != NULL) {
    if (out == NULL) {
      fprintf(stderr, "patch %s failed: %s\n", patch_text, err.message);
      ok = 0;
    } else if (exact_text ? strcmp(show(out), show(expected)) != 0
                          : !cJSON_Compare(out, expected, 1)) {
      fprintf(stderr, "patch %s gave\n  %s\n", patch_text, show(out));
      fprintf(stderr, "expected\n  %s\n", show(expected));
      ok = 0;
    } else if (err.kind != VR_PATCH_OK || err.message[0] != '\0') {
      fprintf(stderr, "patch %s succeeded but left an error (%d, %s)\n", patch_text, err.kind,
              err.message);
      ok = 0;
    }
  } else if (out != NULL) {
    fprintf(stderr, "patch %s succeeded with %s, expected: %s\n", patch_text, show(out), want_msg);
    ok = 0;
  } else if (err.kind != want_kind || strcmp(err.message, want_msg) != 0) {
    fprintf(stderr, "patch %s failed with (%d) \"%s\"\n  expected (%d) \"%s\"\n", patch_text,
            err.kind, err.message, want_kind, want_msg);
    ok = 0;
  }
  if (strcmp(show(doc), doc_before) != 0 || strcmp(show(patch), patch_before) != 0 ||
      (!inputs_have_duplicates &&
       (!cJSON_Compare(doc, doc_copy, 1) || !cJSON_Compare(patch, patch_copy, 1)))) {
    fprintf(stderr, "patch %s modified its inputs\n", patch_text);
    ok = 0;
  }
  cJSON_Delete(out);
  cJSON_Delete(doc);
  cJSON_Delete(patch);
  cJSON_Delete(doc_copy);
  cJSON_Delete(patch_copy);
  cJSON_Delete(expected);
  return ok;
}

#define CHECK_GIVES(fn, kind, doc, patch, expected)                                                \
  CHECK(outcome(fn, kind, doc, patch, expected, 0, VR_PATCH_OK, NULL))
#define CHECK_GIVES_TEXT(fn, kind, doc, patch, expected)                                           \
  CHECK(outcome(fn, kind, doc, patch, expected, 1, VR_PATCH_OK, NULL))
#define CHECK_FAILS(fn, kind, doc, patch, want_kind, msg)                                          \
  CHECK(outcome(fn, kind, doc, patch, NULL, 0, want_kind, msg))

#define MERGE(doc, patch, expected)          CHECK_GIVES(run_merge, NULL, doc, patch, expected)
#define JPATCH(doc, ops, expected)           CHECK_GIVES(run_json, NULL, doc, ops, expected)
#define JPATCH_FAILS(doc, ops, kind, msg)    CHECK_FAILS(run_json, NULL, doc, ops, kind, msg)
#define SMP(kind, doc, patch, expected)      CHECK_GIVES(run_smp, kind, doc, patch, expected)
#define SMP_TEXT(kind, doc, patch, expected) CHECK_GIVES_TEXT(run_smp, kind, doc, patch, expected)
#define SMP_FAILS(kind, doc, patch, msg)                                                           \
  CHECK_FAILS(run_smp, kind, doc, patch, VR_PATCH_BAD_PATCH, msg)

/* ============================================================================================
 * RFC 7386
 * ============================================================================================ */

static void test_merge_rfc7386(void) {
  /* Section 3 example, member order included. */
  CHECK_GIVES_TEXT(run_merge, NULL,
                   "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":"
                   "\"Doe\"},\"tags\":[\"example\",\"sample\"],\"content\":\"This will be "
                   "unchanged\"}",
                   "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{"
                   "\"familyName\":null},\"tags\":[\"example\"]}",
                   "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":["
                   "\"example\"],\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-"
                   "123-456-7890\"}");
  /* Appendix A. */
  MERGE("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  MERGE("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
  MERGE("{\"a\":\"b\"}", "{\"a\":null}", "{}");
  MERGE("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
  MERGE("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  MERGE("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
  MERGE("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
  MERGE("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
  MERGE("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
  MERGE("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
  MERGE("{\"a\":\"foo\"}", "null", "null");
  MERGE("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
  MERGE("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
  MERGE("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
  MERGE("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
  /* Duplicate names in a patch: the last one counts. */
  inputs_have_duplicates = 1;
  MERGE("{\"a\":1}", "{\"a\":2,\"a\":3}", "{\"a\":3}");
  MERGE("{\"a\":1}", "{\"a\":2,\"a\":null}", "{}");
  inputs_have_duplicates = 0;
  /* kubectl label: merge patch on a Node. */
  MERGE("{\"kind\":\"Node\",\"metadata\":{\"name\":\"node2\",\"labels\":{\"a\":\"1\"}}}",
        "{\"metadata\":{\"labels\":{\"foo\":\"bar\"}}}",
        "{\"kind\":\"Node\",\"metadata\":{\"name\":\"node2\",\"labels\":{\"a\":\"1\",\"foo\":"
        "\"bar\"}}}");
  MERGE("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"annotations\":{\"x\":\"y\"}}}",
        "{\"metadata\":{\"labels\":{\"a\":null},\"annotations\":{\"z\":\"w\"}}}",
        "{\"metadata\":{\"labels\":{\"b\":\"2\"},\"annotations\":{\"x\":\"y\",\"z\":\"w\"}}}");
}

/* ============================================================================================
 * RFC 6902
 * ============================================================================================ */

static void test_json_patch_rfc6902(void) {
  /* A.1 adding an object member */
  JPATCH("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
         "{\"baz\":\"qux\",\"foo\":\"bar\"}");
  /* A.2 adding an array element */
  JPATCH("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
         "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
  /* A.3 removing an object member */
  JPATCH("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
         "{\"foo\":\"bar\"}");
  /* A.4 removing an array element */
  JPATCH("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
         "{\"foo\":[\"bar\",\"baz\"]}");
  /* A.5 replacing a value */
  JPATCH("{\"baz\":\"qux\",\"foo\":\"bar\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
         "{\"baz\":\"boo\",\"foo\":\"bar\"}");
  /* A.6 moving a value */
  JPATCH("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
         "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
         "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
  /* A.7 moving an array element */
  JPATCH("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
         "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
         "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
  /* A.8 testing a value: success */
  JPATCH("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
         "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
         "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
         "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
  /* A.9 testing a value: error */
  JPATCH_FAILS("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (test /baz): test failed: the value differs");
  /* A.10 adding a nested member object */
  JPATCH("{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
         "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
  /* A.11 ignoring unrecognized elements */
  JPATCH("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
         "{\"foo\":\"bar\",\"baz\":\"qux\"}");
  /* A.12 adding to a nonexistent target */
  JPATCH_FAILS("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (add /baz/bat): no such element");
  /* A.13 invalid JSON patch document (duplicate "op") */
  inputs_have_duplicates = 1;
  JPATCH_FAILS("{\"foo\":\"bar\"}",
               "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]",
               VR_PATCH_BAD_PATCH, "op 0: duplicate member \"op\"");
  inputs_have_duplicates = 0;
  /* A.14 ~ escape ordering */
  JPATCH("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
         "{\"/\":9,\"~1\":10}");
  /* A.15 comparing strings and numbers */
  JPATCH_FAILS("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (test /~01): test failed: the value differs");
  /* A.16 adding an array value */
  JPATCH("{\"foo\":[\"bar\"]}",
         "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
         "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

static void test_json_patch_more(void) {
  /* Member order is kept by replace and by add over an existing member. */
  CHECK_GIVES_TEXT(run_json, NULL, "{\"a\":1,\"b\":2,\"c\":3}",
                   "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":20},"
                   "{\"op\":\"add\",\"path\":\"/a\",\"value\":10},"
                   "{\"op\":\"add\",\"path\":\"/d\",\"value\":4}]",
                   "{\"a\":10,\"b\":20,\"c\":3,\"d\":4}");
  /* Whole-document operations. */
  JPATCH("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]");
  JPATCH("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
  JPATCH("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1}}]", "{\"a\":1}");
  JPATCH("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/a/c\"}]",
         "{\"a\":{\"b\":1,\"c\":{\"a\":{\"b\":1}}}}");
  JPATCH_FAILS("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", VR_PATCH_CANNOT_APPLY,
               "op 0 (remove \"\"): cannot remove the whole document");
  /* Arrays: insert at the front, the end, "-"; replace and remove keep the others in place. */
  JPATCH("[1,2,3]",
         "[{\"op\":\"add\",\"path\":\"/0\",\"value\":0},{\"op\":\"add\",\"path\":\"/4\","
         "\"value\":4},{\"op\":\"add\",\"path\":\"/-\",\"value\":5},{\"op\":\"replace\","
         "\"path\":\"/5\",\"value\":50},{\"op\":\"remove\",\"path\":\"/2\"}]",
         "[0,1,3,4,50]");
  JPATCH("[1,2,3]", "[{\"op\":\"move\",\"from\":\"/2\",\"path\":\"/0\"}]", "[3,1,2]");
  JPATCH("[1,2,3]", "[{\"op\":\"copy\",\"from\":\"/0\",\"path\":\"/-\"}]", "[1,2,3,1]");
  JPATCH("{\"a\":{\"b\":[1]}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/a/b\"}]",
         "{\"a\":{\"b\":[1]}}");
  JPATCH("{\"a\":{\"b\":1},\"c\":2}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/c\"}]",
         "{\"c\":{\"b\":1}}");
  JPATCH("{\"x\":null}", "[{\"op\":\"test\",\"path\":\"/x\",\"value\":null}]", "{\"x\":null}");
  JPATCH("{\"x\":{\"a\":1,\"b\":[1,2]}}",
         "[{\"op\":\"test\",\"path\":\"/x\",\"value\":{\"b\":[1,2],\"a\":1}}]",
         "{\"x\":{\"a\":1,\"b\":[1,2]}}");
  JPATCH_FAILS("{\"x\":[1,2]}", "[{\"op\":\"test\",\"path\":\"/x\",\"value\":[2,1]}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (test /x): test failed: the value differs");
  JPATCH_FAILS("{\"x\":true}", "[{\"op\":\"test\",\"path\":\"/x\",\"value\":1}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (test /x): test failed: the value differs");
  JPATCH("{}", "[]", "{}");

  /* Index errors. */
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/foo/5\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY,
               "op 0 (add /foo/5): index 5 is out of range (the array has 2 elements)");
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (add /foo/01): \"01\" is not an array index");
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/foo/-1\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (add /foo/-1): \"-1\" is not an array index");
  JPATCH_FAILS("{\"foo\":[1,2]}",
               "[{\"op\":\"add\",\"path\":\"/foo/99999999999999999999\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY,
               "op 0 (add /foo/99999999999999999999): index 2147483648 is out of range (the "
               "array has 2 elements)");
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/foo/-\"}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (remove /foo/-): no such element");
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/foo/2\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (replace /foo/2): no such element");
  JPATCH_FAILS("{\"foo\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/foo/x\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (add /foo/x): \"x\" is not an array index");
  JPATCH_FAILS("{\"foo\":\"s\"}", "[{\"op\":\"add\",\"path\":\"/foo/x\",\"value\":0}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (add /foo/x): no such element");
  JPATCH_FAILS("{\"foo\":{}}", "[{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/foo/x\"}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (copy /foo/x): from: no such element");

  /* Malformed patches. */
  JPATCH_FAILS("{}", "{\"op\":\"add\"}", VR_PATCH_BAD_PATCH,
               "a JSON patch must be an array of operations");
  JPATCH_FAILS("{}", "[1]", VR_PATCH_BAD_PATCH, "op 0: not an object");
  JPATCH_FAILS("{}", "[{\"path\":\"/a\"}]", VR_PATCH_BAD_PATCH, "op 0: missing \"op\"");
  JPATCH_FAILS("{}", "[{\"op\":7,\"path\":\"/a\"}]", VR_PATCH_BAD_PATCH,
               "op 0: \"op\" is not a string");
  JPATCH_FAILS("{}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", VR_PATCH_BAD_PATCH,
               "op 0: unknown op \"frob\"");
  JPATCH_FAILS("{}", "[{\"op\":\"remove\"}]", VR_PATCH_BAD_PATCH,
               "op 0 (remove): missing \"path\"");
  JPATCH_FAILS("{}", "[{\"op\":\"remove\",\"path\":3}]", VR_PATCH_BAD_PATCH,
               "op 0 (remove): \"path\" is not a string");
  JPATCH_FAILS("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", VR_PATCH_BAD_PATCH,
               "op 0 (add /a): missing \"value\"");
  JPATCH_FAILS("{}", "[{\"op\":\"copy\",\"path\":\"/a\"}]", VR_PATCH_BAD_PATCH,
               "op 0 (copy /a): missing \"from\"");
  JPATCH_FAILS("{}", "[{\"op\":\"move\",\"path\":\"/a\",\"from\":1}]", VR_PATCH_BAD_PATCH,
               "op 0 (move /a): \"from\" is not a string");
  inputs_have_duplicates = 1;
  JPATCH_FAILS("{}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1,\"value\":2}]",
               VR_PATCH_BAD_PATCH, "op 0: duplicate member \"value\"");
  inputs_have_duplicates = 0;
  JPATCH_FAILS("{\"a\":{\"b\":{}}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]",
               VR_PATCH_BAD_PATCH, "op 0 (move /a/b/c): \"from\" is a proper prefix of \"path\"");
  JPATCH_FAILS("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", VR_PATCH_BAD_PATCH,
               "op 0 (add a): invalid pointer: it must be empty or start with '/'");
  JPATCH_FAILS("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", VR_PATCH_BAD_PATCH,
               "op 0 (add /a~2): invalid pointer: '~' must be followed by '0' or '1'");
  JPATCH_FAILS("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a~\",\"value\":1}]", VR_PATCH_BAD_PATCH,
               "op 0 (add /a~): invalid pointer: '~' must be followed by '0' or '1'");
  JPATCH_FAILS("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"a\",\"path\":\"/b\"}]",
               VR_PATCH_BAD_PATCH,
               "op 0 (copy /b): from a: invalid pointer: it must be empty or start with '/'");
}

static void test_json_pointer_escapes(void) {
  const char *doc = "{\"a/b\":{\"m~n\":1},\"\":{\"\":2},\" \":3,\"~\":{\"/\":4}}";
  JPATCH(doc,
         "[{\"op\":\"test\",\"path\":\"/a~1b/m~0n\",\"value\":1},"
         "{\"op\":\"test\",\"path\":\"/\",\"value\":{\"\":2}},"
         "{\"op\":\"test\",\"path\":\"//\",\"value\":2},"
         "{\"op\":\"test\",\"path\":\"/ \",\"value\":3},"
         "{\"op\":\"test\",\"path\":\"/~0/~1\",\"value\":4},"
         "{\"op\":\"add\",\"path\":\"/a~1b/new~1key~0\",\"value\":5},"
         "{\"op\":\"replace\",\"path\":\"//\",\"value\":6},"
         "{\"op\":\"remove\",\"path\":\"/~0/~1\"}]",
         "{\"a/b\":{\"m~n\":1,\"new/key~\":5},\"\":{\"\":6},\" \":3,\"~\":{}}");
  /* "~01" is "~1", not "/": the escapes are undone in one pass. */
  JPATCH_FAILS("{\"/\":1}", "[{\"op\":\"remove\",\"path\":\"/~01\"}]", VR_PATCH_CANNOT_APPLY,
               "op 0 (remove /~01): no such element");
  /* Labels with '/' in their key, as clients address them. */
  JPATCH("{\"metadata\":{\"labels\":{\"node-role.kubernetes.io/worker\":\"\"}}}",
         "[{\"op\":\"remove\",\"path\":\"/metadata/labels/node-role.kubernetes.io~1worker\"},"
         "{\"op\":\"add\",\"path\":\"/metadata/labels/example.com~1pool\",\"value\":\"a\"}]",
         "{\"metadata\":{\"labels\":{\"example.com/pool\":\"a\"}}}");
}

static const char NODE[] =
    "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"node1\",\"labels\":{"
    "\"kubernetes.io/hostname\":\"node1\",\"node-role.kubernetes.io/control-plane\":\"\"},"
    "\"annotations\":{\"a\":\"1\"},\"resourceVersion\":\"1001\"},\"spec\":{\"podCIDR\":\"10.0.0."
    "0/24\",\"taints\":[{\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":\"NoSchedule\"},{"
    "\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":\"NoExecute\"},{\"key\":\"gpu\",\"effect\":"
    "\"NoSchedule\"}]},\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":"
    "\"False\"},{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}],"
    "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.1\"},{\"type\":\"Hostname\","
    "\"address\":\"node1\"}]}}";

static void test_json_patch_atomic(void) {
  /* The brief's example message: op 2 fails after ops 0 and 1 succeeded on the working copy. */
  JPATCH_FAILS(NODE,
               "[{\"op\":\"test\",\"path\":\"/metadata/name\",\"value\":\"node1\"},"
               "{\"op\":\"replace\",\"path\":\"/spec/podCIDR\",\"value\":\"x\"},"
               "{\"op\":\"remove\",\"path\":\"/spec/taints/3\"}]",
               VR_PATCH_CANNOT_APPLY, "op 2 (remove /spec/taints/3): no such element");
  /* A late malformed op: earlier ops are not kept either (outcome() checks the doc). */
  JPATCH_FAILS(NODE,
               "[{\"op\":\"add\",\"path\":\"/metadata/labels/x\",\"value\":\"y\"},"
               "{\"op\":\"remove\",\"path\":\"/spec/taints/0\"},{\"op\":\"bogus\"}]",
               VR_PATCH_BAD_PATCH, "op 2: unknown op \"bogus\"");
  /* The Python client's list body. On a node that was never cordoned there is nothing to replace
     (RFC 6902 replace needs the target), as with the real API server. */
  JPATCH_FAILS(NODE, "[{\"op\":\"replace\",\"path\":\"/spec/unschedulable\",\"value\":false}]",
               VR_PATCH_CANNOT_APPLY, "op 0 (replace /spec/unschedulable): no such element");
  JPATCH("{\"spec\":{\"unschedulable\":true}}",
         "[{\"op\":\"replace\",\"path\":\"/spec/unschedulable\",\"value\":false}]",
         "{\"spec\":{\"unschedulable\":false}}");
  JPATCH("{\"spec\":{}}", "[{\"op\":\"add\",\"path\":\"/spec/unschedulable\",\"value\":true}]",
         "{\"spec\":{\"unschedulable\":true}}");
}

/* ============================================================================================
 * Strategic merge patch
 * ============================================================================================ */

static void test_smp_node(void) {
  const char *cordoned = "{\"kind\":\"Node\",\"spec\":{\"podCIDR\":\"c\",\"unschedulable\":true}}";
  /* kubectl cordon / drain; member order kept, the new one last. */
  SMP_TEXT(NULL, "{\"kind\":\"Node\",\"spec\":{\"podCIDR\":\"c\",\"taints\":[{\"key\":\"k\"}]}}",
           "{\"spec\":{\"unschedulable\":true}}",
           "{\"kind\":\"Node\",\"spec\":{\"podCIDR\":\"c\",\"taints\":[{\"key\":\"k\"}],"
           "\"unschedulable\":true}}");
  /* kubectl uncordon (null deletes), Ansible uncordon (explicit false). */
  SMP(NULL, cordoned, "{\"spec\":{\"unschedulable\":null}}",
      "{\"kind\":\"Node\",\"spec\":{"
      "\"podCIDR\":\"c\"}}");
  SMP(NULL, cordoned, "{\"spec\":{\"unschedulable\":false}}",
      "{\"kind\":\"Node\",\"spec\":{\"podCIDR\":\"c\",\"unschedulable\":false}}");
  SMP(NULL, "{\"kind\":\"Node\"}", "{\"spec\":{\"unschedulable\":null}}",
      "{\"kind\":\"Node\",\"spec\":{}}");
  /* Labels and annotations: add, change, delete. */
  SMP(NULL,
      "{\"kind\":\"Node\",\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"},"
      "\"annotations\":{\"x\":\"y\"}}}",
      "{\"metadata\":{\"labels\":{\"a\":null,\"b\":\"3\",\"c\":\"4\"},\"annotations\":{\"x\":"
      "null,\"note\":\"maintenance\"}}}",
      "{\"kind\":\"Node\",\"metadata\":{\"labels\":{\"b\":\"3\",\"c\":\"4\"},\"annotations\":{"
      "\"note\":\"maintenance\"}}}");
  /* Conditions merge by type: Ready changes in place, MemoryPressure stays, DiskPressure is added
     at the end; a condition can be deleted by type. */
  SMP_TEXT(NULL,
           "{\"kind\":\"Node\",\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":"
           "\"False\"},{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}",
           "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":"
           "\"KubeletNotReady\"},{\"type\":\"DiskPressure\",\"status\":\"False\"}]}}",
           "{\"kind\":\"Node\",\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\","
           "\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"False\",\"reason\":"
           "\"KubeletNotReady\"},{\"type\":\"DiskPressure\",\"status\":\"False\"}]}}");
  SMP(NULL, NODE,
      "{\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"$patch\":\"delete\"}],"
      "\"addresses\":[{\"type\":\"ExternalIP\",\"address\":\"1.2.3.4\"},{\"type\":\"Hostname\","
      "\"address\":\"n1\"}]}}",
      "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"node1\",\"labels\":{"
      "\"kubernetes.io/hostname\":\"node1\",\"node-role.kubernetes.io/control-plane\":\"\"},"
      "\"annotations\":{\"a\":\"1\"},\"resourceVersion\":\"1001\"},\"spec\":{\"podCIDR\":\"10.0.0."
      "0/24\",\"taints\":[{\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":\"NoSchedule\"},{"
      "\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":\"NoExecute\"},{\"key\":\"gpu\","
      "\"effect\":\"NoSchedule\"}]},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
      "\"True\",\"reason\":\"KubeletReady\"}],\"addresses\":[{\"type\":\"InternalIP\","
      "\"address\":\"192.168.0.1\"},{\"type\":\"Hostname\",\"address\":\"n1\"},{\"type\":"
      "\"ExternalIP\",\"address\":\"1.2.3.4\"}]}}");
  /* Taints have no patch strategy: the list is replaced. This is what "kubectl taint node1
     dedicated:NoSchedule-" sends (the complete remaining list); merging by key would have kept
     the removed taint. */
  SMP(NULL,
      "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"vm\","
      "\"effect\":\"NoSchedule\"},{\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":"
      "\"NoExecute\"},{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}]}}",
      "{\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"vm\",\"effect\":\"NoExecute\"},"
      "{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}]}}",
      "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"vm\","
      "\"effect\":\"NoExecute\"},{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}]}}");
  /* Removing the last taint: the two-way patch is null. Adding one: the whole new list. */
  SMP(NULL,
      "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"gpu\",\"effect\":"
      "\"NoSchedule\"}]}}",
      "{\"spec\":{\"taints\":null}}", "{\"kind\":\"Node\",\"spec\":{}}");
  SMP(NULL, "{\"kind\":\"Node\",\"spec\":{}}",
      "{\"spec\":{\"taints\":[{\"key\":\"maint\",\"value\":null,\"effect\":\"NoSchedule\"}]}}",
      "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"maint\",\"effect\":"
      "\"NoSchedule\"}]}}");
  SMP_FAILS(NULL, NODE, "{\"spec\":{\"taints\":[{\"key\":\"gpu\",\"$patch\":\"delete\"}]}}",
            "spec.taints: element 0: $patch: delete needs a list merged by key, and this one is "
            "not");
  /* A list-level replace directive on a list that is replaced anyway is accepted. */
  SMP(NULL, "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"a\"}]}}",
      "{\"spec\":{\"taints\":[{\"key\":\"b\"},{\"$patch\":\"replace\"}]}}",
      "{\"kind\":\"Node\",\"spec\":{\"taints\":[{\"key\":\"b\"}]}}");
  /* podCIDRs merge as a set. */
  SMP(NULL, "{\"kind\":\"Node\",\"spec\":{\"podCIDRs\":[\"a\",\"b\"]}}",
      "{\"spec\":{\"podCIDRs\":[\"b\",\"c\"]}}",
      "{\"kind\":\"Node\",\"spec\":{\"podCIDRs\":[\"a\",\"b\",\"c\"]}}");
}

static const char POD[] =
    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"default\",\"finalizers\":[\"a\",\"b\",\"c\"],\"ownerReferences\":[{\"apiVersion\":\"apps/"
    "v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-5d8f7c9b6\",\"uid\":\"u1\",\"controller\":true}]"
    "},\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":\"app\",\"image\":\"app:1\","
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{"
    "\"containerPort\":80,\"protocol\":\"TCP\"}]},{\"name\":\"sidecar\",\"image\":\"side:1\"},{"
    "\"name\":\"log\",\"image\":\"log:1\"}],\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},{"
    "\"name\":\"cfg\",\"configMap\":{\"name\":\"c\"}}],\"tolerations\":[{\"key\":\"k\","
    "\"operator\":\"Exists\"}]},\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
    "\"Ready\",\"status\":\"True\"},{\"type\":\"PodScheduled\",\"status\":\"True\"}]}}";

/* Applies patch to POD and returns the field at the dotted path of the result, printed. */
static const char *pod_field(const char *patch_text, const char *path) {
  static char buf[4096];
  cJSON *doc = parse(POD), *patch = parse(patch_text), *out;
  const cJSON *at;
  char copy[256], *seg, *save = NULL;
  vr_patch_error err;
  out = vr_patch_strategic(doc, patch, NULL, &err);
  if (out == NULL) {
    snprintf(buf, sizeof buf, "error: %s", err.message);
  } else {
    at = out;
    snprintf(copy, sizeof copy, "%s", path);
    for (seg = strtok_r(copy, ".", &save); seg != NULL && at != NULL;
         seg = strtok_r(NULL, ".", &save)) {
      at = cJSON_GetObjectItemCaseSensitive(at, seg);
    }
    snprintf(buf, sizeof buf, "%s", at != NULL ? show(at) : "(absent)");
  }
  cJSON_Delete(doc);
  cJSON_Delete(patch);
  cJSON_Delete(out);
  return buf;
}

static void test_smp_pod(void) {
  /* Containers merge by name; $patch: delete removes one; env merges by name inside. */
  CHECK_STR(pod_field("{\"spec\":{\"containers\":[{\"name\":\"sidecar\",\"$patch\":\"delete\"},"
                      "{\"name\":\"app\",\"image\":\"app:2\",\"env\":[{\"name\":\"B\",\"value\":"
                      "\"3\"},{\"name\":\"C\",\"value\":\"4\"},{\"name\":\"A\",\"$patch\":"
                      "\"delete\"}]},{\"name\":\"new\",\"image\":\"new:1\"}]}}",
                      "spec.containers"),
            "[{\"name\":\"app\",\"image\":\"app:2\",\"env\":[{\"name\":\"B\",\"value\":\"3\"},{"
            "\"name\":\"C\",\"value\":\"4\"}],\"ports\":[{\"containerPort\":80,\"protocol\":"
            "\"TCP\"}]},{\"name\":\"log\",\"image\":\"log:1\"},{\"name\":\"new\",\"image\":"
            "\"new:1\"}]");
  /* Ports merge by containerPort; a null inside an element deletes that field. */
  CHECK_STR(pod_field("{\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{"
                      "\"containerPort\":80,\"protocol\":null,\"name\":\"http\"},{"
                      "\"containerPort\":443}]}]}}",
                      "spec.containers"),
            "[{\"name\":\"app\",\"image\":\"app:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{"
            "\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80,\"name\":\"http\"},{"
            "\"containerPort\":443}]},{\"name\":\"sidecar\",\"image\":\"side:1\"},{\"name\":"
            "\"log\",\"image\":\"log:1\"}]");
  /* $patch: replace as a list element replaces the containers. */
  CHECK_STR(pod_field("{\"spec\":{\"containers\":[{\"name\":\"only\",\"image\":\"o:1\"},{"
                      "\"$patch\":\"replace\"}]}}",
                      "spec.containers"),
            "[{\"name\":\"only\",\"image\":\"o:1\"}]");
  /* $patch: merge is the default, in a list element and in a map. */
  CHECK_STR(pod_field("{\"spec\":{\"containers\":[{\"$patch\":\"merge\"},{\"name\":\"log\","
                      "\"$patch\":\"merge\",\"image\":\"log:2\"}],\"$patch\":\"merge\"}}",
                      "spec.containers"),
            "[{\"name\":\"app\",\"image\":\"app:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{"
            "\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80,\"protocol\":"
            "\"TCP\"}]},{\"name\":\"sidecar\",\"image\":\"side:1\"},{\"name\":\"log\",\"image\":"
            "\"log:2\"}]");
  /* Finalizers: added as a set, removed with $deleteFromPrimitiveList. */
  CHECK_STR(pod_field("{\"metadata\":{\"finalizers\":[\"d\",\"a\"],"
                      "\"$deleteFromPrimitiveList/finalizers\":[\"b\",\"zz\"]}}",
                      "metadata.finalizers"),
            "[\"a\",\"c\",\"d\"]");
  CHECK_STR(pod_field("{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"a\",\"b\","
                      "\"c\"]}}",
                      "metadata.finalizers"),
            "[]");
  CHECK_STR(
      pod_field("{\"metadata\":{\"$deleteFromPrimitiveList/nosuch\":[\"a\"]}}", "metadata.nosuch"),
      "(absent)");
  /* $setElementOrder: the named elements take the named elements' places, in the given order. */
  CHECK_STR(pod_field("{\"metadata\":{\"$setElementOrder/finalizers\":[\"c\",\"a\",\"b\"]}}",
                      "metadata.finalizers"),
            "[\"c\",\"a\",\"b\"]");
  CHECK_STR(pod_field("{\"metadata\":{\"finalizers\":[\"x\"],\"$setElementOrder/finalizers\":["
                      "\"x\",\"c\"]}}",
                      "metadata.finalizers"),
            "[\"a\",\"b\",\"x\",\"c\"]");
  CHECK_STR(pod_field("{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"log\"},{\"name\":"
                      "\"app\"}]}}",
                      "spec.containers"),
            "[{\"name\":\"log\",\"image\":\"log:1\"},{\"name\":\"sidecar\",\"image\":\"side:1\"},"
            "{\"name\":\"app\",\"image\":\"app:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{"
            "\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80,\"protocol\":"
            "\"TCP\"}]}]");
  /* Ignored for replaced lists: the patch gives their order. */
  CHECK_STR(pod_field("{\"spec\":{\"tolerations\":[{\"key\":\"b\"},{\"key\":\"a\"}],"
                      "\"$setElementOrder/tolerations\":[{\"key\":\"a\"},{\"key\":\"b\"}]}}",
                      "spec.tolerations"),
            "[{\"key\":\"b\"},{\"key\":\"a\"}]");
  /* $retainKeys on a volume (patchStrategy merge,retainKeys): emptyDir is cleared. */
  CHECK_STR(pod_field("{\"spec\":{\"volumes\":[{\"name\":\"data\",\"hostPath\":{\"path\":\"/x\"},"
                      "\"$retainKeys\":[\"hostPath\",\"name\"]}]}}",
                      "spec.volumes"),
            "[{\"name\":\"data\",\"hostPath\":{\"path\":\"/x\"}},{\"name\":\"cfg\",\"configMap\":{"
            "\"name\":\"c\"}}]");
  /* ownerReferences merge by uid. */
  CHECK_STR(pod_field("{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u2\",\"kind\":"
                      "\"VirtualMachineInstance\",\"name\":\"vm1\"},{\"uid\":\"u1\",\"controller\":"
                      "false}]}}",
                      "metadata.ownerReferences"),
            "[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-5d8f7c9b6\","
            "\"uid\":\"u1\",\"controller\":false},{\"uid\":\"u2\",\"kind\":"
            "\"VirtualMachineInstance\",\"name\":\"vm1\"}]");
  /* Pod conditions merge by type; tolerations (no strategy) are replaced. */
  CHECK_STR(pod_field("{\"status\":{\"conditions\":[{\"type\":\"DisruptionTarget\",\"status\":"
                      "\"True\"}]}}",
                      "status.conditions"),
            "[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"PodScheduled\",\"status\":"
            "\"True\"},{\"type\":\"DisruptionTarget\",\"status\":\"True\"}]");
  CHECK_STR(pod_field("{\"spec\":{\"tolerations\":[{\"key\":\"other\"}]}}", "spec.tolerations"),
            "[{\"key\":\"other\"}]");
  /* A new keyed list on an object that had none: directives are processed, nulls dropped. */
  CHECK_STR(pod_field("{\"spec\":{\"initContainers\":[{\"name\":\"i\",\"image\":null,\"env\":[{"
                      "\"name\":\"X\",\"value\":\"1\"},{\"name\":\"Y\",\"$patch\":\"delete\"}]},{"
                      "\"name\":\"gone\",\"$patch\":\"delete\"}]}}",
                      "spec.initContainers"),
            "[{\"name\":\"i\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}]");
  /* $patch on maps: replace takes the map as given, delete removes the field. */
  CHECK_STR(pod_field("{\"spec\":{\"$patch\":\"replace\",\"nodeName\":\"node2\"}}", "spec"),
            "{\"nodeName\":\"node2\"}");
  CHECK_STR(pod_field("{\"status\":{\"$patch\":\"delete\",\"phase\":\"x\"}}", "status"),
            "(absent)");
}

static void test_smp_other_kinds(void) {
  /* PodDisruptionBudget spec.selector has patchStrategy replace. */
  SMP(NULL,
      "{\"kind\":\"PodDisruptionBudget\",\"spec\":{\"minAvailable\":1,\"selector\":{"
      "\"matchLabels\":{\"app\":\"a\"}}}}",
      "{\"spec\":{\"selector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"}]"
      "}}}",
      "{\"kind\":\"PodDisruptionBudget\",\"spec\":{\"minAvailable\":1,\"selector\":{"
      "\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"}]}}}");
  SMP(NULL,
      "{\"kind\":\"PodDisruptionBudget\",\"status\":{\"conditions\":[{\"type\":"
      "\"DisruptionAllowed\",\"status\":\"True\"}]}}",
      "{\"status\":{\"conditions\":[{\"type\":\"DisruptionAllowed\",\"status\":\"False\"}]}}",
      "{\"kind\":\"PodDisruptionBudget\",\"status\":{\"conditions\":[{\"type\":"
      "\"DisruptionAllowed\",\"status\":\"False\"}]}}");
  /* KubeVirt kinds: ObjectMeta strategies only; their conditions have no strategy. */
  SMP(NULL,
      "{\"kind\":\"VirtualMachineInstance\",\"metadata\":{\"finalizers\":[\"kubevirt.io/"
      "virtualMachineControllerFinalize\"]},\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}",
      "{\"metadata\":{\"finalizers\":[\"x\"]},\"status\":{\"conditions\":[{\"type\":"
      "\"LiveMigratable\"}]}}",
      "{\"kind\":\"VirtualMachineInstance\",\"metadata\":{\"finalizers\":[\"kubevirt.io/"
      "virtualMachineControllerFinalize\",\"x\"]},\"status\":{\"conditions\":[{\"type\":"
      "\"LiveMigratable\"}]}}");
  SMP(NULL, "{\"kind\":\"Lease\",\"spec\":{\"holderIdentity\":\"a\",\"renewTime\":\"t1\"}}",
      "{\"spec\":{\"renewTime\":\"t2\"}}",
      "{\"kind\":\"Lease\",\"spec\":{\"holderIdentity\":\"a\",\"renewTime\":\"t2\"}}");
  /* Unknown kinds fall back to merge-patch semantics: every list is replaced. */
  SMP(NULL,
      "{\"kind\":\"Widget\",\"metadata\":{\"finalizers\":[\"a\"],\"labels\":{\"x\":\"1\"}},"
      "\"status\":{\"conditions\":[{\"type\":\"Ready\"},{\"type\":\"Other\"}]}}",
      "{\"metadata\":{\"finalizers\":[\"b\"],\"labels\":{\"y\":\"2\"}},\"status\":{"
      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
      "{\"kind\":\"Widget\",\"metadata\":{\"finalizers\":[\"b\"],\"labels\":{\"x\":\"1\",\"y\":"
      "\"2\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
  /* The kind argument wins over the document's (which may be absent). */
  SMP("Node", "{\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}",
      "{\"status\":{\"conditions\":[{\"type\":\"Other\"}]}}",
      "{\"status\":{\"conditions\":[{\"type\":\"Ready\"},{\"type\":\"Other\"}]}}");
  SMP("Widget", "{\"kind\":\"Node\",\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}",
      "{\"status\":{\"conditions\":[{\"type\":\"Other\"}]}}",
      "{\"kind\":\"Node\",\"status\":{\"conditions\":[{\"type\":\"Other\"}]}}");
  /* A document that is not an object is merged into as if empty. */
  SMP("Node", "[1]", "{\"a\":{\"b\":null,\"c\":1}}", "{\"a\":{\"c\":1}}");
  CHECK(vr_patch_strategic_known("Node") && vr_patch_strategic_known("Pod") &&
        vr_patch_strategic_known("VirtualMachine") &&
        vr_patch_strategic_known("VirtualMachineInstance") &&
        vr_patch_strategic_known("VirtualMachineInstanceMigration") &&
        vr_patch_strategic_known("PodDisruptionBudget") && vr_patch_strategic_known("Lease"));
  CHECK(!vr_patch_strategic_known("node") && !vr_patch_strategic_known("Widget") &&
        !vr_patch_strategic_known(NULL));
}

static void test_smp_errors(void) {
  SMP_FAILS(NULL, POD, "[]", "a strategic merge patch must be a JSON object");
  SMP_FAILS(NULL, POD, "{\"$frob\":1}", "patch: unknown directive \"$frob\"");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"$frob/x\":[]}}",
            "metadata: unknown directive \"$frob/x\"");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"labels\":{\"$patch\":\"frobnicate\"}}}",
            "metadata.labels: unknown $patch directive frobnicate");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"labels\":{\"$patch\":1}}}",
            "metadata.labels: unknown $patch directive (not a string)");
  SMP_FAILS(NULL, POD, "{\"$patch\":\"delete\"}",
            "patch: $patch: delete at the top level would delete the object");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"$patch\":\"bogus\"}]}}",
            "spec.containers: element 0: unknown $patch directive bogus");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"$patch\":true}]}}",
            "spec.containers: element 0: $patch is not a string");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}",
            "spec.containers: element 0 has no merge key \"name\"");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"name\":\"a\"},\"b\"]}}",
            "spec.containers: element 1 is not a map (the list merges on \"name\")");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"$patch\":\"delete\"}]}}",
            "spec.containers: element 0: $patch: delete without the merge key \"name\"");
  SMP_FAILS(NULL, POD, "{\"spec\":{\"containers\":[{\"$patch\":\"replace\",\"name\":\"a\"}]}}",
            "spec.containers: element 0: {\"$patch\": \"replace\"} takes no other fields");
  SMP_FAILS(NULL, POD,
            "{\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":[{\"value\":\"1\"}]}]}}",
            "spec.containers[].env: element 0 has no merge key \"name\"");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"finalizers\":[{\"$patch\":\"delete\"}]}}",
            "metadata.finalizers: element 0: $patch: delete needs a list merged by key, and this "
            "one is not");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"$retainKeys\":[\"name\"],\"namespace\":\"x\"}}",
            "metadata: field \"namespace\" is not listed in $retainKeys");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"$retainKeys\":[1]}}",
            "metadata: $retainKeys must be a list of field names");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":\"a\"}}",
            "metadata: $deleteFromPrimitiveList/finalizers must name a field and hold a list");
  SMP_FAILS(NULL, POD, "{\"metadata\":{\"$setElementOrder/\":[]}}",
            "metadata: $setElementOrder/ must name a field and hold a list");
  /* A failure deep inside leaves no partial result behind (outcome() checks the inputs; ASan and
     valgrind check the memory). */
  SMP_FAILS(NULL, POD,
            "{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"new\"},"
            "{\"name\":\"app\",\"env\":[{\"name\":\"A\"},{\"$patch\":\"nope\"}]}]}}",
            "spec.containers[].env: element 1: unknown $patch directive nope");
}

/* ============================================================================================
 * Limits, malformed trees, dispatch, memory failures
 * ============================================================================================ */

/* An array nested `depth` levels deep ([[[...]]]), or NULL. */
static cJSON *nested(int depth) {
  cJSON *top = cJSON_CreateArray(), *cur = top;
  int i;
  for (i = 1; cur != NULL && i < depth; i++) {
    cJSON *next = cJSON_CreateArray();
    if (next == NULL || !cJSON_AddItemToArray(cur, next)) {
      cJSON_Delete(next);
      cJSON_Delete(top);
      return NULL;
    }
    cur = next;
  }
  return top;
}

/* Containers nested in j (a scalar is 0). */
static int tree_depth(const cJSON *j) {
  int deepest = 0, d;
  const cJSON *c;
  if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) return 0;
  for (c = j->child; c != NULL; c = c->next) {
    d = tree_depth(c);
    if (d > deepest) deepest = d;
  }
  return deepest + 1;
}

static void test_limits_and_bad_trees(void) {
  vr_patch_error err;
  cJSON *doc = parse("{\"x\":{},\"a\":1}"), *ok_deep = nested(VR_PATCH_MAX_DEPTH),
        *too_deep = nested(VR_PATCH_MAX_DEPTH + 1), *patch, *out, *ops, *bad, *doc2, *doc3;
  /* A value exactly at the limit is accepted; one level more is refused up front. */
  out = vr_patch_merge(doc, ok_deep, &err);
  CHECK(out != NULL && cJSON_Compare(out, ok_deep, 1));
  cJSON_Delete(out);
  out = vr_patch_merge(doc, too_deep, &err);
  CHECK(out == NULL && err.kind == VR_PATCH_BAD_PATCH);
  CHECK_STR(err.message, "patch is not a well-formed JSON value or nests deeper than 1000 levels");
  out = vr_patch_strategic(too_deep, doc, "Node", &err);
  CHECK(out == NULL && err.kind == VR_PATCH_BAD_PATCH);
  CHECK_CONTAINS(err.message, "document is not a well-formed JSON value");
  /* JSON patch: adding a value whose nesting plus the path's depth is too deep. */
  doc2 = parse("{\"x\":{\"y\":{}}}");
  ops = cJSON_CreateArray();
  patch = cJSON_CreateObject();
  cJSON_AddStringToObject(patch, "op", "add");
  cJSON_AddStringToObject(patch, "path", "/x/y/z");
  cJSON_AddItemToObject(patch, "value", nested(VR_PATCH_MAX_DEPTH - 2));
  cJSON_AddItemToArray(ops, patch);
  out = vr_patch_json(doc2, ops, &err);
  CHECK(out == NULL && err.kind == VR_PATCH_BAD_PATCH);
  CHECK_STR(err.message, "op 0 (add /x/y/z): the result would nest deeper than 1000 levels");
  cJSON_ReplaceItemInObject(patch, "path", cJSON_CreateString("/x/y"));
  out = vr_patch_json(doc2, ops, &err);
  CHECK(out != NULL && tree_depth(out) == VR_PATCH_MAX_DEPTH);
  cJSON_Delete(out);
  cJSON_Delete(ops);
  /* The same through copy, whose source is in the document: {"a": <998 deep>, "b": {"c": {}}}. */
  doc3 = parse("{\"b\":{\"c\":{}}}");
  cJSON_AddItemToObject(doc3, "a", nested(VR_PATCH_MAX_DEPTH - 2));
  ops = parse("[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b/c/d\"}]");
  out = vr_patch_json(doc3, ops, &err);
  CHECK(out == NULL && err.kind == VR_PATCH_BAD_PATCH);
  CHECK_STR(err.message, "op 0 (copy /b/c/d): the result would nest deeper than 1000 levels");
  cJSON_Delete(ops);
  ops = parse("[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b/c\"}]");
  out = vr_patch_json(doc3, ops, &err);
  CHECK(out != NULL && tree_depth(out) == VR_PATCH_MAX_DEPTH);
  cJSON_Delete(out);
  cJSON_Delete(doc3);
  cJSON_Delete(ops);
  cJSON_Delete(doc2);
  /* Missing arguments; err may be NULL. */
  CHECK(vr_patch_merge(NULL, doc, &err) == NULL && err.kind == VR_PATCH_BAD_PATCH);
  CHECK_STR(err.message, "document is missing");
  CHECK(vr_patch_json(doc, NULL, &err) == NULL);
  CHECK_STR(err.message, "patch is missing");
  CHECK(vr_patch_strategic(doc, NULL, NULL, NULL) == NULL);
  /* Trees that are not well-formed cJSON values. */
  bad = cJSON_CreateObject();
  cJSON_AddItemToObject(bad, "a", cJSON_CreateNull());
  cJSON_GetObjectItem(bad, "a")->type = cJSON_Invalid;
  CHECK(vr_patch_merge(doc, bad, &err) == NULL && err.kind == VR_PATCH_BAD_PATCH);
  cJSON_GetObjectItem(bad, "a")->type = cJSON_String; /* valuestring is NULL */
  CHECK(vr_patch_strategic(bad, doc, NULL, &err) == NULL && err.kind == VR_PATCH_BAD_PATCH);
  cJSON_GetObjectItem(bad, "a")->type = cJSON_NULL;
  out = vr_patch_merge(doc, bad, &err);
  CHECK(out != NULL);
  cJSON_Delete(out);
  cJSON_Delete(bad);
  cJSON_Delete(doc);
  cJSON_Delete(ok_deep);
  cJSON_Delete(too_deep);
}

static void test_dispatch(void) {
  cJSON *doc = parse("{\"kind\":\"Node\",\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}");
  cJSON *patch = parse("{\"status\":{\"conditions\":[{\"type\":\"Other\"}]}}"), *out;
  vr_patch_error err;
  CHECK(vr_patch_type_of("application/merge-patch+json") == VR_PATCH_TYPE_MERGE);
  CHECK(vr_patch_type_of("application/json-patch+json") == VR_PATCH_TYPE_JSON);
  CHECK(vr_patch_type_of(" Application/Strategic-Merge-Patch+JSON; charset=utf-8") ==
        VR_PATCH_TYPE_STRATEGIC);
  CHECK(vr_patch_type_of("application/apply-patch+yaml") == VR_PATCH_TYPE_UNSUPPORTED);
  CHECK(vr_patch_type_of("application/json") == VR_PATCH_TYPE_UNSUPPORTED);
  CHECK(vr_patch_type_of("application/merge-patch+jsonx") == VR_PATCH_TYPE_UNSUPPORTED);
  CHECK(vr_patch_type_of("") == VR_PATCH_TYPE_UNSUPPORTED);
  CHECK(vr_patch_type_of(NULL) == VR_PATCH_TYPE_UNSUPPORTED);
  out = vr_patch_apply(VR_PATCH_TYPE_STRATEGIC, doc, patch, NULL, &err);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"), "conditions")) ==
        2);
  cJSON_Delete(out);
  out = vr_patch_apply(VR_PATCH_TYPE_MERGE, doc, patch, NULL, &err);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"), "conditions")) ==
        1);
  cJSON_Delete(out);
  CHECK(vr_patch_apply(VR_PATCH_TYPE_JSON, doc, patch, NULL, &err) == NULL &&
        err.kind == VR_PATCH_BAD_PATCH);
  CHECK(vr_patch_apply(VR_PATCH_TYPE_UNSUPPORTED, doc, patch, NULL, &err) == NULL);
  CHECK_STR(err.message, "unsupported patch type");
  cJSON_Delete(doc);
  cJSON_Delete(patch);
}

static long alloc_budget = -1; /* allocations left before failing; -1: unlimited */

static void *limited_malloc(size_t size) {
  if (alloc_budget == 0) return NULL;
  if (alloc_budget > 0) alloc_budget--;
  return malloc(size);
}

/* Runs fn with a memory failure at every allocation in turn until it succeeds: each failure must
 * be VR_PATCH_NO_MEMORY with the inputs unchanged (ASan or valgrind find any leak), and the final
 * result must equal expected. */
static int survives_memory_failures(patch_fn fn, const char *kind, const char *doc_text,
                                    const char *patch_text, const char *expected_text) {
  cJSON_Hooks hooks = {limited_malloc, free};
  cJSON *doc = parse(doc_text), *patch = parse(patch_text), *expected = parse(expected_text);
  cJSON *doc_copy = cJSON_Duplicate(doc, 1), *patch_copy = cJSON_Duplicate(patch, 1), *out;
  vr_patch_error err;
  long budget;
  int ok = 1, failures = 0;
  for (budget = 0; budget < 100000; budget++) {
    cJSON_InitHooks(&hooks);
    alloc_budget = budget;
    out = fn(doc, patch, kind, &err);
    alloc_budget = -1;
    cJSON_InitHooks(NULL);
    if (!cJSON_Compare(doc, doc_copy, 1) || !cJSON_Compare(patch, patch_copy, 1)) {
      fprintf(stderr, "budget %ld: inputs modified\n", budget);
      ok = 0;
    }
    if (out != NULL) {
      if (!cJSON_Compare(out, expected, 1)) {
        fprintf(stderr, "budget %ld: wrong result %s\n", budget, show(out));
        ok = 0;
      }
      cJSON_Delete(out);
      break;
    }
    failures++;
    if (err.kind != VR_PATCH_NO_MEMORY || strcmp(err.message, "out of memory") != 0) {
      fprintf(stderr, "budget %ld: failed with (%d) %s\n", budget, err.kind, err.message);
      ok = 0;
    }
  }
  if (failures == 0) ok = 0;
  cJSON_Delete(doc);
  cJSON_Delete(patch);
  cJSON_Delete(expected);
  cJSON_Delete(doc_copy);
  cJSON_Delete(patch_copy);
  return ok;
}

static void test_memory_failures(void) {
  CHECK(survives_memory_failures(run_merge, NULL,
                                 "{\"a\":{\"b\":[1,2],\"c\":\"d\"},\"e\":\"f\",\"g\":null}",
                                 "{\"a\":{\"b\":null,\"x\":{\"y\":[true]}},\"e\":null,\"h\":1}",
                                 "{\"a\":{\"c\":\"d\",\"x\":{\"y\":[true]}},\"g\":null,\"h\":1}"));
  CHECK(survives_memory_failures(
      run_json, NULL, "{\"a\":{\"b\":[1,2],\"c\":\"d\"},\"e\":\"f\"}",
      "[{\"op\":\"add\",\"path\":\"/a/b/1\",\"value\":{\"k\":[1]}},"
      "{\"op\":\"replace\",\"path\":\"/a/c\",\"value\":\"D\"},"
      "{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"/copy\"},"
      "{\"op\":\"move\",\"from\":\"/e\",\"path\":\"/a/e\"},"
      "{\"op\":\"remove\",\"path\":\"/a/b/0\"},"
      "{\"op\":\"add\",\"path\":\"/n~1k\",\"value\":\"v\"},"
      "{\"op\":\"test\",\"path\":\"/a/c\",\"value\":\"D\"}]",
      "{\"a\":{\"b\":[{\"k\":[1]},2],\"c\":\"D\",\"e\":\"f\"},\"copy\":[1,{\"k\":[1]},2],"
      "\"n/k\":\"v\"}"));
  CHECK(survives_memory_failures(
      run_smp, NULL, POD,
      "{\"metadata\":{\"labels\":{\"x\":\"y\"},\"finalizers\":[\"d\"],"
      "\"$deleteFromPrimitiveList/finalizers\":[\"a\"],\"$setElementOrder/finalizers\":[\"d\","
      "\"b\"]},\"spec\":{\"containers\":[{\"name\":\"sidecar\",\"$patch\":\"delete\"},{\"name\":"
      "\"app\",\"env\":[{\"name\":\"A\",\"value\":null}]},{\"name\":\"n\"}],"
      "\"$setElementOrder/containers\":[{\"name\":\"n\"},{\"name\":\"app\"}],\"volumes\":[{"
      "\"name\":\"data\",\"hostPath\":{},\"$retainKeys\":[\"name\",\"hostPath\"]}]},\"status\":{"
      "\"phase\":null}}",
      "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\",\"namespace\":"
      "\"default\",\"finalizers\":[\"d\",\"c\",\"b\"],\"ownerReferences\":[{\"apiVersion\":\"apps/"
      "v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-5d8f7c9b6\",\"uid\":\"u1\",\"controller\":true}"
      "],\"labels\":{\"x\":\"y\"}},\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":"
      "\"n\"},{\"name\":\"log\",\"image\":\"log:1\"},{\"name\":\"app\",\"image\":\"app:1\","
      "\"env\":[{\"name\":\"A\"},{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":"
      "80,\"protocol\":\"TCP\"}]}],\"volumes\":[{\"name\":\"data\",\"hostPath\":{}},{\"name\":"
      "\"cfg\",\"configMap\":{\"name\":\"c\"}}],\"tolerations\":[{\"key\":\"k\",\"operator\":"
      "\"Exists\"}]},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{"
      "\"type\":\"PodScheduled\",\"status\":\"True\"}]}}"));
}

int main(void) {
  test_merge_rfc7386();
  test_json_patch_rfc6902();
  test_json_patch_more();
  test_json_pointer_escapes();
  test_json_patch_atomic();
  test_smp_node();
  test_smp_pod();
  test_smp_other_kinds();
  test_smp_errors();
  test_limits_and_bad_trees();
  test_dispatch();
  test_memory_failures();
  return CHECK_DONE();
}

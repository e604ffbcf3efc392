/* test_selector.c: unit tests of runtime/selector.c: label selectors (text form and
 * metav1.LabelSelector), field selectors and their index query, node affinity (nodeSelector,
 * required terms with every operator, matchFields, preferred scores) and taints against
 * tolerations (effects, empty-key Exists, effect-less tolerations, tolerationSeconds). Every
 * invalid input is checked with its exact message.
 *
 * JSON in the tables is written with single quotes, turned into double quotes before parsing
 * (no test value contains a quote). */
#include "check.h"
#include "check_json.h"
#include "selector.h"

#include <stdlib.h>
#include <string.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ============================================================================================
 * Label selectors, text form
 * ============================================================================================ */

#define LABELS "{'app':'web','tier':'db','env':'prod','gpu':'','cores':'16','example.com/role':'a'}"

static const struct {
  const char *selector, *labels; /* labels NULL: no labels */
  int expect;
} label_text_cases[] = {
    {"", LABELS, 1},
    {"", NULL, 1},
    {"  \t\n ", LABELS, 1},
    {"app=web", LABELS, 1},
    {"app==web", LABELS, 1},
    {"a==b", "{'a':'b'}", 1},
    {"app=db", LABELS, 0},
    {"app!=db", LABELS, 1},
    {"app!=web", LABELS, 0},
    {"missing=x", LABELS, 0},
    {"missing!=x", LABELS, 1}, /* != holds for an absent label */
    {"gpu", LABELS, 1},        /* present with an empty value */
    {"!gpu", LABELS, 0},
    {"missing", LABELS, 0},
    {"!missing", LABELS, 1},
    {"! missing", LABELS, 1},
    {"gpu=", LABELS, 1},
    {"gpu==", LABELS, 1},
    {"app=", LABELS, 0},
    {"gpu=,app=web", LABELS, 1},
    {"env in (prod, staging)", LABELS, 1},
    {"env in (dev,staging)", LABELS, 0},
    {"env in(prod)", LABELS, 1},
    {"env notin (dev)", LABELS, 1},
    {"env notin (dev, prod)", LABELS, 0},
    {"missing notin (x)", LABELS, 1}, /* notin holds for an absent label */
    {"missing in (x)", LABELS, 0},
    {"gpu in (x,)", LABELS, 1}, /* the empty member is the empty value */
    {"gpu in (x)", LABELS, 0},
    {"app=web,tier!=db", LABELS, 0},
    {"app=web,tier!=cache", LABELS, 1},
    {" app = web , env in ( prod ) ,!x ", LABELS, 1},
    {"example.com/role=a", LABELS, 1},
    {"example.com/role!=a", LABELS, 0},
    {"cores>8", LABELS, 1},
    {"cores>16", LABELS, 0},
    {"cores<17", LABELS, 1},
    {"cores<16", LABELS, 0},
    {"app>1", LABELS, 0}, /* a label that is not an integer never matches Gt/Lt */
    {"app<1", LABELS, 0},
    {"missing>1", LABELS, 0},
    {"in=x", "{'in':'x'}", 1},
    {"app", "{'app':5}", 0}, /* a non-string label value counts as absent */
    {"!app", "{'app':5}", 1},
    {"app!=x", NULL, 1},
    {"!app", NULL, 1},
    {"app", NULL, 0},
    {"app", "[]", 0},
    {"env in (prod)", "{'env':'prod'}", 1},
};

static void test_label_text_matching(void) {
  size_t i;
  for (i = 0; i < LEN(label_text_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    vr_label_selector *sel = vr_label_selector_parse(label_text_cases[i].selector, err, sizeof err);
    cJSON *labels = J(label_text_cases[i].labels);
    int got = sel != NULL ? vr_label_selector_matches(sel, labels) : -1;
    if (got != label_text_cases[i].expect) {
      fprintf(stderr, "label selector '%s' on %s: got %d, expected %d %s\n",
              label_text_cases[i].selector,
              label_text_cases[i].labels ? label_text_cases[i].labels : "(none)", got,
              label_text_cases[i].expect, err);
    }
    CHECK(got == label_text_cases[i].expect);
    cJSON_Delete(labels);
    vr_label_selector_free(sel);
  }
}

#define NAME_CHARS                                                                                 \
  "must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
#define LONG63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
  const char *selector, *message;
} label_text_errors[] = {
    {"app=x,,b", "labelSelector: unexpected ',' at column 7"},
    {",a", "labelSelector: unexpected ',' at column 1"},
    {"a=b,", "labelSelector: unexpected end of input at column 5"},
    {"a=b, ", "labelSelector: unexpected end of input at column 6"},
    {"a b", "labelSelector: unexpected 'b' at column 3"},
    {"a=b c=d", "labelSelector: unexpected 'c' at column 5"},
    {"a=b)", "labelSelector: unexpected ')' at column 4"},
    {"a=(b)", "labelSelector: unexpected '(' at column 3"},
    {"a = = b", "labelSelector: unexpected '=' at column 5"},
    {"a!b", "labelSelector: unexpected '!' at column 2"},
    {"!a=b", "labelSelector: unexpected '=' at column 3"},
    {"!", "labelSelector: unexpected end of input at column 2"},
    {"!=a", "labelSelector: unexpected '!=' at column 1"},
    {"(a)", "labelSelector: unexpected '(' at column 1"},
    {"a in x", "labelSelector: unexpected 'x' at column 6"},
    {"a in", "labelSelector: unexpected end of input at column 5"},
    {"a in (x", "labelSelector: unexpected end of input at column 8"},
    {"a in (x y)", "labelSelector: unexpected 'y' at column 9"},
    {"a in (x=y)", "labelSelector: unexpected '=' at column 8"},
    {"a in ()", "labelSelector: 'in' needs at least one value at column 7"},
    {"a notin ( )", "labelSelector: 'notin' needs at least one value at column 11"},
    {"a in (-x)", "labelSelector: invalid label value \"-x\" at column 7: " NAME_CHARS},
    {"a>x", "labelSelector: '>' needs an integer, got \"x\" at column 3"},
    {"a<1.5", "labelSelector: '<' needs an integer, got \"1.5\" at column 3"},
    {"a<", "labelSelector: unexpected end of input at column 3"},
    {"a>,b", "labelSelector: unexpected ',' at column 3"},
    {"a>-1", "labelSelector: invalid label value \"-1\" at column 3: " NAME_CHARS},
    {"a>=1", "labelSelector: unexpected '=' at column 3"},
    {"-a=b", "labelSelector: invalid label key \"-a\" at column 1: name part " NAME_CHARS},
    {"a.=b", "labelSelector: invalid label key \"a.\" at column 1: name part " NAME_CHARS},
    {"Example.com/a=b",
     "labelSelector: invalid label key \"Example.com/a\" at column 1: prefix part must be a "
     "lowercase DNS subdomain (a-z, 0-9, '-' and '.')"},
    {"example..com/a", "labelSelector: invalid label key \"example..com/a\" at column 1: prefix "
                       "part must be a lowercase DNS subdomain (a-z, 0-9, '-' and '.')"},
    {"-example.com/a", "labelSelector: invalid label key \"-example.com/a\" at column 1: prefix "
                       "part must be a lowercase DNS subdomain (a-z, 0-9, '-' and '.')"},
    {"/a", "labelSelector: invalid label key \"/a\" at column 1: prefix part must be non-empty"},
    {"x,a/", "labelSelector: invalid label key \"a/\" at column 3: name part must be non-empty"},
    {"a/b/c", "labelSelector: invalid label key \"a/b/c\" at column 1: at most one '/' is allowed"},
    {LONG63 "a",
     "labelSelector: invalid label key \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "...\" at column 1: name part must be no more than 63 characters"},
    {"a=-b", "labelSelector: invalid label value \"-b\" at column 3: " NAME_CHARS},
    {"a=b_", "labelSelector: invalid label value \"b_\" at column 3: " NAME_CHARS},
    {"a=" LONG63 "a", "labelSelector: invalid label value \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaa...\" at column 3: must be no more than 63 characters"},
    {"a=\xC3\xA9", "labelSelector: invalid label value \"\\xC3\\xA9\" at column 3: " NAME_CHARS},
    {"a=b\"", "labelSelector: invalid label value \"b\\x22\" at column 3: " NAME_CHARS},
};

static void test_label_text_errors(void) {
  size_t i;
  char small[16];
  vr_label_selector *sel;
  for (i = 0; i < LEN(label_text_errors); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    sel = vr_label_selector_parse(label_text_errors[i].selector, err, sizeof err);
    CHECK(sel == NULL);
    CHECK_STR(err, label_text_errors[i].message);
    vr_label_selector_free(sel);
  }
  /* valid edge forms */
  {
    static const char *const valid[] = {
        LONG63,      "a=" LONG63, "example.com/" LONG63,   "a.b-c_d=A.b-C_9", "a in (x,)",
        "a in (,x)", "a>007",     "a<9223372036854775807", "x in (a),y",      "a==",
        "in=x",
    };
    for (i = 0; i < LEN(valid); i++) {
      char err[VR_SELECTOR_ERRLEN] = "";
      sel = vr_label_selector_parse(valid[i], err, sizeof err);
      if (sel == NULL) fprintf(stderr, "'%s' rejected: %s\n", valid[i], err);
      CHECK(sel != NULL);
      vr_label_selector_free(sel);
    }
  }
  /* a bound beyond int64 is not an integer */
  {
    char err[VR_SELECTOR_ERRLEN];
    sel = vr_label_selector_parse("a>9223372036854775808", err, sizeof err);
    CHECK(sel == NULL);
    CHECK_STR(err, "labelSelector: '>' needs an integer, got \"9223372036854775808\" at column 3");
  }
  /* no error buffer, and a short one (cut, NUL-terminated) */
  CHECK(vr_label_selector_parse("a b", NULL, 0) == NULL);
  CHECK(vr_label_selector_parse("a b", small, sizeof small) == NULL);
  CHECK_STR(small, "labelSelector: ");
  /* NULL text is the empty selector; NULL selector matches nothing */
  sel = vr_label_selector_parse(NULL, NULL, 0);
  CHECK(sel != NULL && vr_label_selector_is_empty(sel) && vr_label_selector_matches(sel, NULL));
  vr_label_selector_free(sel);
  CHECK(vr_label_selector_matches(NULL, NULL) == 0);
  CHECK(vr_label_selector_is_empty(NULL) == 0);
  vr_label_selector_free(NULL);
  sel = vr_label_selector_parse("a", NULL, 0);
  CHECK(sel != NULL && !vr_label_selector_is_empty(sel));
  vr_label_selector_free(sel);
}

/* ============================================================================================
 * Label selectors, metav1.LabelSelector
 * ============================================================================================ */

static const struct {
  const char *selector; /* NULL: no selector at all */
  const char *labels;
  int expect, empty;
} label_json_cases[] = {
    {NULL, LABELS, 0, 0}, /* a missing selector matches nothing */
    {NULL, NULL, 0, 0},
    {"null", LABELS, 0, 0},
    {"{}", LABELS, 1, 1}, /* the empty selector matches everything */
    {"{}", NULL, 1, 1},
    {"{'matchLabels':{},'matchExpressions':[]}", NULL, 1, 1},
    {"{'matchLabels':null,'matchExpressions':null,'other':1}", LABELS, 1, 1},
    {"{'matchLabels':{'app':'web'}}", LABELS, 1, 0},
    {"{'matchLabels':{'app':'web'}}", NULL, 0, 0},
    {"{'matchLabels':{'app':'web','tier':'cache'}}", LABELS, 0, 0},
    {"{'matchLabels':{'gpu':''}}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'env','operator':'In','values':['prod','dev']}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'env','operator':'In','values':['dev']}]}", LABELS, 0, 0},
    {"{'matchExpressions':[{'key':'env','operator':'NotIn','values':['dev']}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'env','operator':'NotIn','values':['prod']}]}", LABELS, 0, 0},
    {"{'matchExpressions':[{'key':'nope','operator':'NotIn','values':['x']}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'gpu','operator':'Exists'}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'gpu','operator':'Exists','values':[]}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'gpu','operator':'DoesNotExist'}]}", LABELS, 0, 0},
    {"{'matchExpressions':[{'key':'nope','operator':'DoesNotExist'}]}", LABELS, 1, 0},
    {"{'matchExpressions':[{'key':'nope','operator':'DoesNotExist'}]}", NULL, 1, 0},
    {"{'matchLabels':{'app':'web'},'matchExpressions':[{'key':'tier','operator':'In','values':["
     "'db']}]}",
     LABELS, 1, 0},
    {"{'matchLabels':{'app':'web'},'matchExpressions':[{'key':'tier','operator':'NotIn','values'"
     ":['db']}]}",
     LABELS, 0, 0},
};

static void test_label_json(void) {
  size_t i;
  for (i = 0; i < LEN(label_json_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    cJSON *obj = J(label_json_cases[i].selector), *labels = J(label_json_cases[i].labels);
    vr_label_selector *sel = vr_label_selector_from_json(obj, err, sizeof err);
    int got = sel != NULL ? vr_label_selector_matches(sel, labels) : -1;
    if (got != label_json_cases[i].expect) {
      fprintf(stderr, "LabelSelector %s: got %d, expected %d %s\n",
              label_json_cases[i].selector ? label_json_cases[i].selector : "NULL", got,
              label_json_cases[i].expect, err);
    }
    CHECK(got == label_json_cases[i].expect);
    CHECK(vr_label_selector_is_empty(sel) == label_json_cases[i].empty);
    vr_label_selector_free(sel);
    cJSON_Delete(obj);
    cJSON_Delete(labels);
  }
}

static const struct {
  const char *selector, *message;
} label_json_errors[] = {
    {"[]", "labelSelector: must be an object"},
    {"'app=web'", "labelSelector: must be an object"},
    {"{'matchLabels':[]}", "labelSelector: matchLabels: must be an object"},
    {"{'matchLabels':{'app':1}}", "labelSelector: matchLabels: value of \"app\" must be a string"},
    {"{'matchLabels':{'app':null}}",
     "labelSelector: matchLabels: value of \"app\" must be a string"},
    {"{'matchLabels':{'-x':'a'}}",
     "labelSelector: matchLabels: invalid label key \"-x\": name part " NAME_CHARS},
    {"{'matchLabels':{'app':'a b'}}",
     "labelSelector: matchLabels: invalid label value \"a b\" of \"app\": " NAME_CHARS},
    {"{'matchExpressions':{}}", "labelSelector: matchExpressions: must be an array"},
    {"{'matchExpressions':[5]}", "labelSelector: matchExpressions[0]: must be an object"},
    {"{'matchExpressions':[{'operator':'Exists'}]}",
     "labelSelector: matchExpressions[0].key: must be a string"},
    {"{'matchExpressions':[{'key':'a b','operator':'Exists'}]}",
     "labelSelector: matchExpressions[0].key: invalid label key \"a b\": name part " NAME_CHARS},
    {"{'matchExpressions':[{'key':'a'}]}",
     "labelSelector: matchExpressions[0].operator: must be a string"},
    {"{'matchExpressions':[{'key':'a','operator':'Gt','values':['1']}]}",
     "labelSelector: matchExpressions[0].operator: unsupported operator \"Gt\" (expected In, "
     "NotIn, Exists or DoesNotExist)"},
    {"{'matchExpressions':[{'key':'a','operator':'in','values':['1']}]}",
     "labelSelector: matchExpressions[0].operator: unsupported operator \"in\" (expected In, "
     "NotIn, Exists or DoesNotExist)"},
    {"{'matchExpressions':[{'key':'a','operator':'In'}]}",
     "labelSelector: matchExpressions[0].values: 'In' needs at least one value"},
    {"{'matchExpressions':[{'key':'a','operator':'Exists'},{'key':'a','operator':'NotIn','values'"
     ":[]}]}",
     "labelSelector: matchExpressions[1].values: 'NotIn' needs at least one value"},
    {"{'matchExpressions':[{'key':'a','operator':'Exists','values':['x']}]}",
     "labelSelector: matchExpressions[0].values: 'Exists' takes no values"},
    {"{'matchExpressions':[{'key':'a','operator':'DoesNotExist','values':['x']}]}",
     "labelSelector: matchExpressions[0].values: 'DoesNotExist' takes no values"},
    {"{'matchExpressions':[{'key':'a','operator':'In','values':'x'}]}",
     "labelSelector: matchExpressions[0].values: must be an array"},
    {"{'matchExpressions':[{'key':'a','operator':'In','values':['x',1]}]}",
     "labelSelector: matchExpressions[0].values[1]: must be a string"},
    {"{'matchExpressions':[{'key':'a','operator':'In','values':['x','y_']}]}",
     "labelSelector: matchExpressions[0].values[1]: invalid label value \"y_\": " NAME_CHARS},
};

static void test_label_json_errors(void) {
  size_t i;
  for (i = 0; i < LEN(label_json_errors); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    cJSON *obj = J(label_json_errors[i].selector);
    vr_label_selector *sel = vr_label_selector_from_json(obj, err, sizeof err);
    CHECK(sel == NULL);
    CHECK_STR(err, label_json_errors[i].message);
    vr_label_selector_free(sel);
    /* the same without an error buffer */
    CHECK(vr_label_selector_from_json(obj, NULL, 0) == NULL);
    cJSON_Delete(obj);
  }
}

/* ============================================================================================
 * Field selectors
 * ============================================================================================ */

#define OBJ                                                                                        \
  "{'metadata':{'name':'vm1','namespace':'default','labels':{'a':'b'}},'spec':{'nodeName':"        \
  "'node1','unschedulable':true,'paused':false,'replicas':3,'ratio':1.5,'big':-12345678901,"       \
  "'nil':null,'list':[1]},'status':{'phase':'Running'}}"

static const struct {
  const char *selector, *object;
  int expect;
} field_cases[] = {
    {"", OBJ, 1},
    {"", NULL, 1},
    {"metadata.name=vm1", OBJ, 1},
    {"metadata.name==vm1", OBJ, 1},
    {"metadata.name!=vm1", OBJ, 0},
    {"metadata.name=vm2", OBJ, 0},
    {"metadata.name!=vm2", OBJ, 1},
    {"metadata.name=vm1,spec.nodeName!=node2,status.phase==Running", OBJ, 1},
    {"metadata.name=vm1,spec.nodeName!=node1", OBJ, 0},
    {" metadata.name = vm1 , status.phase = Running ", OBJ, 1},
    {"spec.unschedulable=true", OBJ, 1},
    {"spec.unschedulable!=false", OBJ, 1},
    {"spec.paused=false", OBJ, 1},
    {"spec.replicas=3", OBJ, 1},
    {"spec.replicas=3.0", OBJ, 0},
    {"spec.big=-12345678901", OBJ, 1},
    {"spec.ratio=1.5", OBJ, 1},
    {"spec.missing=", OBJ, 1}, /* a missing field equals the empty string */
    {"spec.missing!=", OBJ, 0},
    {"spec.missing!=x", OBJ, 1},
    {"spec.missing=x", OBJ, 0},
    {"spec.nil=", OBJ, 1},
    {"metadata.name.deeper=", OBJ, 1}, /* a path through a string is missing */
    {"metadata.labels=", OBJ, 0},      /* an object equals no value */
    {"metadata.labels!=", OBJ, 1},
    {"spec.list!=x", OBJ, 1},
    {"spec.missing=,,metadata.name=vm1", OBJ, 1}, /* empty terms are skipped */
    {"metadata.name=vm1,", OBJ, 1},
    {",", OBJ, 1},
    {"metadata.name=", NULL, 1},
    {"metadata.name=x", NULL, 0},
    {"metadata.name=a\\,b\\=c\\\\d", "{'metadata':{'name':'a,b=c\\\\d'}}", 1},
    {"metadata.name=a\\,b", "{'metadata':{'name':'a'}}", 0},
    {"metadata.name=a!b", "{'metadata':{'name':'a!b'}}", 1},
    {"metadata.name=a b", "{'metadata':{'name':'a b'}}", 1},
    {"metadata.name=a\\\\ ", "{'metadata':{'name':'a\\\\'}}", 1},
    {"metadata.name=\\,  ", "{'metadata':{'name':','}}", 1},
};

static void test_field_matching(void) {
  size_t i;
  for (i = 0; i < LEN(field_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    vr_field_selector *sel = vr_field_selector_parse(field_cases[i].selector, err, sizeof err);
    cJSON *obj = J(field_cases[i].object);
    int got = sel != NULL ? vr_field_selector_matches(sel, obj) : -1;
    if (got != field_cases[i].expect) {
      fprintf(stderr, "field selector '%s': got %d, expected %d %s\n", field_cases[i].selector, got,
              field_cases[i].expect, err);
    }
    CHECK(got == field_cases[i].expect);
    cJSON_Delete(obj);
    vr_field_selector_free(sel);
  }
}

static const struct {
  const char *selector, *message;
} field_errors[] = {
    {"metadata.name", "fieldSelector: missing operator in \"metadata.name\" at column 1"},
    {"a=b, metadata.name ", "fieldSelector: missing operator in \"metadata.name\" at column 6"},
    {"a!b", "fieldSelector: missing operator in \"a!b\" at column 1"},
    {"=x", "fieldSelector: missing field path at column 1"},
    {"a=b,  !=x", "fieldSelector: missing field path at column 7"},
    {"a..b=x", "fieldSelector: invalid field path \"a..b\" at column 1"},
    {".a=x", "fieldSelector: invalid field path \".a\" at column 1"},
    {"a.=x", "fieldSelector: invalid field path \"a.\" at column 1"},
    {"a b=x", "fieldSelector: invalid field path \"a b\" at column 1"},
    {"a[0]=x", "fieldSelector: invalid field path \"a[0]\" at column 1"},
    {"a=b=c", "fieldSelector: unexpected '=' at column 4 (write \\= in a value)"},
    {"a!=b=c", "fieldSelector: unexpected '=' at column 5 (write \\= in a value)"},
    {"a===b", "fieldSelector: unexpected '=' at column 4 (write \\= in a value)"},
    {"a=b\\x",
     "fieldSelector: invalid escape of 'x' at column 4 (only \\, \\= and \\\\ are escapes)"},
    {"a=b\\ ",
     "fieldSelector: invalid escape of ' ' at column 4 (only \\, \\= and \\\\ are escapes)"},
    {"a=b\\", "fieldSelector: unfinished escape sequence at column 4"},
};

static void test_field_errors(void) {
  size_t i;
  for (i = 0; i < LEN(field_errors); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    vr_field_selector *sel = vr_field_selector_parse(field_errors[i].selector, err, sizeof err);
    CHECK(sel == NULL);
    CHECK_STR(err, field_errors[i].message);
    vr_field_selector_free(sel);
    CHECK(vr_field_selector_parse(field_errors[i].selector, NULL, 0) == NULL);
  }
}

static void test_field_index_query(void) {
  char err[VR_SELECTOR_ERRLEN] = "";
  const char *path = NULL, *value = NULL;
  int negated = -1;
  vr_field_selector *sel = vr_field_selector_parse(
      "metadata.namespace=default,spec.nodeName==node1,status.phase!=Failed,spec.nodeName=node2",
      err, sizeof err);
  CHECK(sel != NULL);
  CHECK_STR(vr_field_selector_requires(sel, "metadata.namespace"), "default");
  CHECK_STR(vr_field_selector_requires(sel, "spec.nodeName"), "node1"); /* the first one */
  CHECK(vr_field_selector_requires(sel, "status.phase") == NULL);       /* != pins nothing */
  CHECK(vr_field_selector_requires(sel, "metadata.name") == NULL);
  CHECK(vr_field_selector_requires(sel, NULL) == NULL);
  CHECK(vr_field_selector_requires(NULL, "spec.nodeName") == NULL);
  CHECK(vr_field_selector_count(sel) == 4);
  CHECK(vr_field_selector_term(sel, 2, &path, &negated, &value) == 1);
  CHECK_STR(path, "status.phase");
  CHECK(negated == 1);
  CHECK_STR(value, "Failed");
  CHECK(vr_field_selector_term(sel, 1, &path, &negated, NULL) == 1);
  CHECK(negated == 0);
  CHECK(vr_field_selector_term(sel, 0, NULL, NULL, NULL) == 1);
  path = "unchanged";
  CHECK(vr_field_selector_term(sel, 4, &path, &negated, &value) == 0);
  CHECK_STR(path, "unchanged");
  vr_field_selector_free(sel);
  /* the empty selector pins nothing and matches everything; NULL matches nothing */
  sel = vr_field_selector_parse(NULL, err, sizeof err);
  CHECK(sel != NULL && vr_field_selector_count(sel) == 0);
  CHECK(vr_field_selector_requires(sel, "spec.nodeName") == NULL);
  vr_field_selector_free(sel);
  CHECK(vr_field_selector_matches(NULL, NULL) == 0);
  CHECK(vr_field_selector_count(NULL) == 0);
  CHECK(vr_field_selector_term(NULL, 0, NULL, NULL, NULL) == 0);
  vr_field_selector_free(NULL);
  /* escaped values come back unescaped */
  sel = vr_field_selector_parse("metadata.name=a\\,b", err, sizeof err);
  CHECK_STR(vr_field_selector_requires(sel, "metadata.name"), "a,b");
  vr_field_selector_free(sel);
}

/* ============================================================================================
 * Node affinity
 * ============================================================================================ */

#define NODE                                                                                       \
  "{'metadata':{'name':'node1','labels':{'zone':'a','cores':'16','gpu':'','disk':'ssd'}}}"
#define REQ(terms)                                                                                 \
  "{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{"                \
  "'nodeSelectorTerms':" terms "}}}}"
#define EXPR(key, op, values) "{'key':'" key "','operator':'" op "','values':" values "}"
#define TERM(exprs)           "{'matchExpressions':[" exprs "]}"
#define FIELD(op, values)                                                                          \
  "{'matchFields':[{'key':'metadata.name','operator':'" op "','values':" values "}]}"
#define REQ_PATH "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
#define ALL_OPS  "(expected In, NotIn, Exists, DoesNotExist, Gt or Lt)"

static const struct {
  const char *spec, *node;
  int expect;
  const char *message; /* for -1 */
} node_cases[] = {
    {NULL, NODE, 1, NULL},
    {"{}", NODE, 1, NULL},
    {"{}", NULL, 1, NULL},
    /* nodeSelector */
    {"{'nodeSelector':{'zone':'a'}}", NODE, 1, NULL},
    {"{'nodeSelector':{'zone':'a','disk':'ssd'}}", NODE, 1, NULL},
    {"{'nodeSelector':{'zone':'b'}}", NODE, 0, NULL},
    {"{'nodeSelector':{'zone':'a','disk':'hdd'}}", NODE, 0, NULL},
    {"{'nodeSelector':{'missing':'x'}}", NODE, 0, NULL},
    {"{'nodeSelector':{'gpu':''}}", NODE, 1, NULL},
    {"{'nodeSelector':{'zone':'a'}}", NULL, 0, NULL},
    {"{'nodeSelector':{}}", NODE, 1, NULL},
    {"{'nodeSelector':null}", NODE, 1, NULL},
    {"{'nodeSelector':{'zone':1}}", NODE, -1, "nodeSelector: value of \"zone\" must be a string"},
    {"{'nodeSelector':[]}", NODE, -1, "nodeSelector: must be an object"},
    /* absent levels impose nothing */
    {"{'affinity':null}", NODE, 1, NULL},
    {"{'affinity':{}}", NODE, 1, NULL},
    {"{'affinity':{'nodeAffinity':{}}}", NODE, 1, NULL},
    {"{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':null}}}", NODE,
     1, NULL},
    /* every operator */
    {REQ("[" TERM(EXPR("zone", "In", "['a','b']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM(EXPR("zone", "In", "['b','c']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("missing", "In", "['a']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("zone", "NotIn", "['b']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM(EXPR("zone", "NotIn", "['a']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("missing", "NotIn", "['a']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM("{'key':'gpu','operator':'Exists'}") "]"), NODE, 1, NULL},
    {REQ("[" TERM("{'key':'missing','operator':'Exists'}") "]"), NODE, 0, NULL},
    {REQ("[" TERM("{'key':'gpu','operator':'DoesNotExist','values':[]}") "]"), NODE, 0, NULL},
    {REQ("[" TERM("{'key':'missing','operator':'DoesNotExist'}") "]"), NODE, 1, NULL},
    {REQ("[" TERM("{'key':'missing','operator':'DoesNotExist'}") "]"), NULL, 1, NULL},
    {REQ("[" TERM(EXPR("cores", "Gt", "['8']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM(EXPR("cores", "Gt", "['16']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("cores", "Gt", "['0015']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM(EXPR("cores", "Lt", "['17']")) "]"), NODE, 1, NULL},
    {REQ("[" TERM(EXPR("cores", "Lt", "['16']")) "]"), NODE, 0, NULL},
    /* Gt/Lt on a label that is not an integer, or absent: no match */
    {REQ("[" TERM(EXPR("zone", "Gt", "['1']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("zone", "Lt", "['1']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("gpu", "Lt", "['1']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("missing", "Lt", "['1']")) "]"), NODE, 0, NULL},
    {REQ("[" TERM(EXPR("v", "Gt", "['1']")) "]"), "{'metadata':{'labels':{'v':'2.5'}}}", 0, NULL},
    {REQ("[" TERM(EXPR("v", "Gt", "['1']")) "]"), "{'metadata':{'labels':{'v':'+2'}}}", 1, NULL},
    {REQ("[" TERM(EXPR("v", "Lt", "['1']")) "]"), "{'metadata':{'labels':{'v':'-2'}}}", 1, NULL},
    {REQ("[" TERM(EXPR("v", "Gt", "['1']")) "]"),
     "{'metadata':{'labels':{'v':'99999999999999999999'}}}", 0, NULL},
    /* expressions ANDed, terms ORed */
    {REQ("[" TERM(EXPR("zone", "In", "['a']") "," EXPR("cores", "Gt", "['8']")) "]"), NODE, 1,
     NULL},
    {REQ("[" TERM(EXPR("zone", "In", "['a']") "," EXPR("cores", "Gt", "['32']")) "]"), NODE, 0,
     NULL},
    {REQ("[" TERM(EXPR("zone", "In", "['b']")) "," TERM(EXPR("disk", "In", "['ssd']")) "]"), NODE,
     1, NULL},
    {REQ("[" TERM(EXPR("zone", "In", "['b']")) "," TERM(EXPR("disk", "In", "['hdd']")) "]"), NODE,
     0, NULL},
    /* matchFields */
    {REQ("[" FIELD("In", "['node1']") "]"), NODE, 1, NULL},
    {REQ("[" FIELD("In", "['node2']") "]"), NODE, 0, NULL},
    {REQ("[" FIELD("NotIn", "['node1']") "]"), NODE, 0, NULL},
    {REQ("[" FIELD("NotIn", "['node2']") "]"), NODE, 1, NULL},
    {REQ("[" FIELD("NotIn", "['node1']") "]"), NULL, 1, NULL},
    {REQ("[{'matchExpressions':[" EXPR("zone", "In",
                                       "['a']") "],'matchFields':[{'key':'metadata."
                                                "name','operator':'In','values':['node1']}]}]"),
     NODE, 1, NULL},
    {REQ("[{'matchExpressions':[" EXPR("zone", "In",
                                       "['a']") "],'matchFields':[{'key':'metadata."
                                                "name','operator':'In','values':['node2']}]}]"),
     NODE, 0, NULL},
    {REQ("[{'matchExpressions':[" EXPR("zone", "In",
                                       "['b']") "],'matchFields':[{'key':'metadata."
                                                "name','operator':'In','values':['node1']}]}]"),
     NODE, 0, NULL},
    /* empty terms match nothing; no terms, nothing matches */
    {REQ("[{}]"), NODE, 0, NULL},
    {REQ("[{'matchExpressions':[],'matchFields':[]}]"), NODE, 0, NULL},
    {REQ("[]"), NODE, 0, NULL},
    {"{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{}}}}", NODE, 0,
     NULL},
    {REQ("[{}," TERM(EXPR("zone", "In", "['a']")) "]"), NODE, 1, NULL},
    /* malformed terms */
    {REQ("[" TERM(EXPR("zone", "Foo", "['a']")) "]"), NODE, -1,
     REQ_PATH
     "nodeSelectorTerms[0].matchExpressions[0].operator: unsupported operator \"Foo\" " ALL_OPS},
    {REQ("[" TERM(EXPR("zone", "in", "['a']")) "]"), NODE, -1,
     REQ_PATH
     "nodeSelectorTerms[0].matchExpressions[0].operator: unsupported operator \"in\" " ALL_OPS},
    {REQ("[" TERM("{'key':'zone','values':['a']}") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].operator: must be a string"},
    {REQ("[" TERM("{'key':'zone','operator':'In'}") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values: 'In' needs at least one value"},
    {REQ("[" TERM(EXPR("zone", "NotIn", "[]")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values: 'NotIn' needs at least one value"},
    {REQ("[" TERM(EXPR("cores", "Gt", "['1','2']")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values: 'Gt' needs exactly one value"},
    {REQ("[" TERM("{'key':'cores','operator':'Gt'}") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values: 'Gt' needs exactly one value"},
    {REQ("[" TERM(EXPR("cores", "Lt", "['x']")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values[0]: 'Lt' needs an integer, got "
              "\"x\""},
    {REQ("[" TERM(EXPR("cores", "Lt", "['-1']")) "]"), NODE, -1,
     REQ_PATH
     "nodeSelectorTerms[0].matchExpressions[0].values[0]: invalid label value \"-1\": " NAME_CHARS},
    {REQ("[" TERM(EXPR("gpu", "Exists", "['a']")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].values: 'Exists' takes no values"},
    {REQ("[" TERM(EXPR("Zone Name", "In", "['a']")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].key: invalid label key \"Zone Name\": name "
              "part " NAME_CHARS},
    /* an error is reported even when an earlier term matches, or an earlier expression fails */
    {REQ("[" TERM(EXPR("zone", "In", "['a']")) "," TERM(EXPR("zone", "Foo", "['a']")) "]"), NODE,
     -1,
     REQ_PATH
     "nodeSelectorTerms[1].matchExpressions[0].operator: unsupported operator \"Foo\" " ALL_OPS},
    {REQ("[" TERM(EXPR("zone", "In", "['b']") "," EXPR("zone", "In", "[]")) "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions[1].values: 'In' needs at least one value"},
    {REQ("[{'matchExpressions':[" EXPR("zone", "In", "['b']") "],'matchFields':[{'key':'x'}]}]"),
     NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0].key: only \"metadata.name\" is supported, got "
              "\"x\""},
    {REQ("[{'matchFields':[{'key':'metadata.namespace','operator':'In','values':['a']}]}]"), NODE,
     -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0].key: only \"metadata.name\" is supported, got "
              "\"metadata.namespace\""},
    {REQ("[" FIELD("Exists", "[]") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0].operator: unsupported operator \"Exists\" "
              "(expected In or NotIn)"},
    {REQ("[" FIELD("In", "['node1','node2']") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0].values: 'In' on a field needs exactly one "
              "string value"},
    {REQ("[" FIELD("NotIn", "[]") "]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0].values: 'NotIn' on a field needs exactly one "
              "string value"},
    {REQ("[{'matchFields':[5]}]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields[0]: must be an object"},
    {REQ("{}"), NODE, -1, REQ_PATH "nodeSelectorTerms: must be an array"},
    {REQ("[5]"), NODE, -1, REQ_PATH "nodeSelectorTerms[0]: must be an object"},
    {REQ("[{'matchExpressions':{}}]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchExpressions: must be an array"},
    {REQ("[{'matchFields':'x'}]"), NODE, -1,
     REQ_PATH "nodeSelectorTerms[0].matchFields: must be an array"},
    {"{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':[]}}}", NODE,
     -1, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: must be an object"},
    {"{'affinity':[]}", NODE, -1, "affinity: must be an object"},
    {"{'affinity':{'nodeAffinity':5}}", NODE, -1, "affinity.nodeAffinity: must be an object"},
};

static void test_node_affinity(void) {
  size_t i;
  for (i = 0; i < LEN(node_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    cJSON *spec, *node;
    int got;
    spec = J(node_cases[i].spec);
    node = J(node_cases[i].node);
    got = vr_node_matches_spec(spec, node, err, sizeof err);
    if (got != node_cases[i].expect) {
      fprintf(stderr, "node case %zu (%s): got %d, expected %d %s\n", i,
              node_cases[i].spec ? node_cases[i].spec : "NULL", got, node_cases[i].expect, err);
    }
    CHECK(got == node_cases[i].expect);
    if (node_cases[i].message != NULL) CHECK_STR(err, node_cases[i].message);
    CHECK(vr_node_matches_spec(spec, node, NULL, 0) == node_cases[i].expect);
    cJSON_Delete(spec);
    cJSON_Delete(node);
  }
}

/* nodeSelector and required affinity must both hold; vr_node_selector_match on its own. */
static void test_node_selector_match(void) {
  char err[VR_SELECTOR_ERRLEN] = "";
  cJSON *node = J(NODE), *spec, *ns;
  spec =
      J("{'nodeSelector':{'zone':'b'},'affinity':{'nodeAffinity':{'requiredDuringScheduling"
        "IgnoredDuringExecution':{'nodeSelectorTerms':[" TERM(EXPR("zone", "In", "['a']")) "]}}}}");
  CHECK(vr_node_matches_spec(spec, node, err, sizeof err) == 0);
  cJSON_Delete(spec);
  spec =
      J("{'nodeSelector':{'zone':'a'},'affinity':{'nodeAffinity':{'requiredDuringScheduling"
        "IgnoredDuringExecution':{'nodeSelectorTerms':[" TERM(EXPR("zone", "In", "['b']")) "]}}}}");
  CHECK(vr_node_matches_spec(spec, node, err, sizeof err) == 0);
  cJSON_Delete(spec);
  spec = J(
      "{'nodeSelector':{'zone':'a'},'affinity':{'nodeAffinity':{'requiredDuringScheduling"
      "IgnoredDuringExecution':{'nodeSelectorTerms':[" TERM(EXPR("disk", "In", "['ssd']")) "]}}}}");
  CHECK(vr_node_matches_spec(spec, node, err, sizeof err) == 1);
  cJSON_Delete(spec);
  /* an error in the affinity is reported even when the nodeSelector already fails */
  spec =
      J("{'nodeSelector':{'zone':'b'},'affinity':{'nodeAffinity':{'requiredDuringScheduling"
        "IgnoredDuringExecution':{'nodeSelectorTerms':[" TERM(EXPR("zone", "X", "['a']")) "]}}}}");
  CHECK(vr_node_matches_spec(spec, node, err, sizeof err) == -1);
  CHECK_STR(err, REQ_PATH "nodeSelectorTerms[0].matchExpressions[0].operator: unsupported "
                          "operator \"X\" " ALL_OPS);
  cJSON_Delete(spec);

  ns = J("{'nodeSelectorTerms':[" FIELD("In", "['node1']") "]}");
  CHECK(vr_node_selector_match(ns, node, err, sizeof err) == 1);
  CHECK(vr_node_selector_match(ns, NULL, err, sizeof err) == 0);
  cJSON_Delete(ns);
  ns = J("{'nodeSelectorTerms':[" TERM(EXPR("zone", "Gt", "['a']")) "]}");
  CHECK(vr_node_selector_match(ns, node, err, sizeof err) == -1);
  CHECK_STR(err, "nodeSelectorTerms[0].matchExpressions[0].values[0]: 'Gt' needs an integer, got "
                 "\"a\"");
  cJSON_Delete(ns);
  ns = J("{'nodeSelectorTerms':5}");
  CHECK(vr_node_selector_match(ns, node, err, sizeof err) == -1);
  CHECK_STR(err, "nodeSelectorTerms: must be an array");
  cJSON_Delete(ns);
  ns = J("{}");
  CHECK(vr_node_selector_match(ns, node, err, sizeof err) == 0);
  cJSON_Delete(ns);
  CHECK(vr_node_selector_match(NULL, node, err, sizeof err) == -1);
  CHECK_STR(err, "nodeSelector: must be an object");
  cJSON_Delete(node);
}

#define PREF(weight, term) "{'weight':" weight ",'preference':" term "}"
#define PREFS(list)                                                                                \
  "{'affinity':{'nodeAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':" list "}}}"
#define PREF_PATH "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"

static const struct {
  const char *spec;
  long long expect;
  const char *message;
} score_cases[] = {
    {NULL, 0, NULL},
    {"{}", 0, NULL},
    {PREFS("[]"), 0, NULL},
    {PREFS("null"), 0, NULL},
    {PREFS("[" PREF("10", TERM(EXPR("zone", "In", "['a']"))) "]"), 10, NULL},
    {PREFS(
         "[" PREF("10", TERM(EXPR("zone", "In", "['a']"))) "," PREF("5", TERM(EXPR("disk", "In", "['hdd']"))) "," PREF(
             "20",
             FIELD("In",
                   "['node1']")) "," PREF("0",
                                          TERM(EXPR("zone", "In",
                                                    "['a']"))) "," PREF("7",
                                                                        "{}") ",{'weight':3}"
                                                                              "," PREF(
                                                                                  "100",
                                                                                  TERM(EXPR(
                                                                                      "cores", "Gt",
                                                                                      "['4'"
                                                                                      "]"))) "]"),
     130, NULL},
    {PREFS("[" PREF("10", TERM(EXPR("zone", "NotIn", "['a']"))) "]"), 0, NULL},
    {PREFS("[" PREF("10", TERM(EXPR("zone", "In", "['a']"))) "," PREF(
         "1", TERM(EXPR("zone", "Foo", "['a']"))) "]"),
     -1,
     PREF_PATH
     "[1].preference.matchExpressions[0].operator: unsupported operator \"Foo\" " ALL_OPS},
    {PREFS("[" PREF("101", TERM(EXPR("zone", "In", "['a']"))) "]"), -1,
     PREF_PATH "[0].weight: must be an integer from 0 to 100"},
    {PREFS("[" PREF("-1", TERM(EXPR("zone", "In", "['a']"))) "]"), -1,
     PREF_PATH "[0].weight: must be an integer from 0 to 100"},
    {PREFS("[" PREF("1.5", TERM(EXPR("zone", "In", "['a']"))) "]"), -1,
     PREF_PATH "[0].weight: must be an integer from 0 to 100"},
    {PREFS("[" PREF("'5'", TERM(EXPR("zone", "In", "['a']"))) "]"), -1,
     PREF_PATH "[0].weight: must be an integer from 0 to 100"},
    {PREFS("[" PREF("5", "[]") "]"), -1, PREF_PATH "[0].preference: must be an object"},
    {PREFS("[5]"), -1, PREF_PATH "[0]: must be an object"},
    {PREFS("{}"), -1, PREF_PATH ": must be an array"},
};

static void test_preference_score(void) {
  size_t i;
  cJSON *node = J(NODE);
  for (i = 0; i < LEN(score_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    cJSON *spec = J(score_cases[i].spec);
    long long got = vr_node_preference_score(spec, node, err, sizeof err);
    if (got != score_cases[i].expect) {
      fprintf(stderr, "score case %zu: got %lld, expected %lld %s\n", i, got, score_cases[i].expect,
              err);
    }
    CHECK(got == score_cases[i].expect);
    if (score_cases[i].message != NULL) CHECK_STR(err, score_cases[i].message);
    cJSON_Delete(spec);
  }
  cJSON_Delete(node);
}

/* ============================================================================================
 * Taints and tolerations
 * ============================================================================================ */

#define NS_TAINT    "[{'key':'dedicated','value':'gpu','effect':'NoSchedule'}]"
#define UNREACHABLE "{'key':'node.kubernetes.io/unreachable','effect':'NoExecute'}"
#define NOT_READY   "{'key':'node.kubernetes.io/not-ready','effect':'NoExecute'}"
#define TOL_UNREACHABLE(extra)                                                                     \
  "{'key':'node.kubernetes.io/unreachable','operator':'Exists','effect':'NoExecute'" extra "}"
#define TOL_NOT_READY(extra)                                                                       \
  "{'key':'node.kubernetes.io/not-ready','operator':'Exists','effect':'NoExecute'" extra "}"
#define PREFER3                                                                                    \
  "[{'key':'a','effect':'PreferNoSchedule'},{'key':'b','effect':'PreferNoSchedule'},{'key':'c',"   \
  "'effect':'NoSchedule'}]"
#define EFFECTS "(expected NoSchedule, PreferNoSchedule or NoExecute)"

static const struct {
  const char *tolerations, *taints;
  unsigned effects;
  int expect;            /* 1, 0 or -1 */
  size_t untolerated;    /* for 0 and 1 */
  const char *first;     /* key of the first untolerated taint, or NULL */
  long long evict_after; /* for 0 and 1 */
  const char *message;   /* for -1 */
} toleration_cases[] = {
    {NULL, NULL, VR_TAINT_ALL, 1, 0, NULL, -1, NULL},
    {"null", "null", VR_TAINT_ALL, 1, 0, NULL, -1, NULL},
    {"[]", "[]", VR_TAINT_ALL, 1, 0, NULL, -1, NULL},
    {NULL, NS_TAINT, VR_TAINT_FILTER, 0, 1, "dedicated", -1, NULL},
    {"[{'key':'dedicated','operator':'Equal','value':'gpu','effect':'NoSchedule'}]", NS_TAINT,
     VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    /* empty operator is Equal, empty effect matches every effect */
    {"[{'key':'dedicated','value':'gpu'}]", NS_TAINT, VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    {"[{'key':'dedicated','value':'cpu'}]", NS_TAINT, VR_TAINT_FILTER, 0, 1, "dedicated", -1, NULL},
    {"[{'key':'dedicated','operator':'Exists'}]", NS_TAINT, VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    {"[{'key':'dedicated','operator':'Exists','effect':'NoExecute'}]", NS_TAINT, VR_TAINT_FILTER, 0,
     1, "dedicated", -1, NULL},
    {"[{'key':'other','operator':'Exists'}]", NS_TAINT, VR_TAINT_FILTER, 0, 1, "dedicated", -1,
     NULL},
    /* empty key with Exists tolerates every taint (of its effect) */
    {"[{'operator':'Exists'}]", NS_TAINT, VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    {"[{'operator':'Exists'}]", "[" UNREACHABLE "," NOT_READY "]", VR_TAINT_ALL, 1, 0, NULL, -1,
     NULL},
    {"[{'operator':'Exists','effect':'PreferNoSchedule'}]", NS_TAINT, VR_TAINT_FILTER, 0, 1,
     "dedicated", -1, NULL},
    {"[{'operator':'Exists','effect':'NoSchedule'}]", NS_TAINT, VR_TAINT_FILTER, 1, 0, NULL, -1,
     NULL},
    /* taints outside the effect set are not looked at */
    {NULL, NS_TAINT, VR_TAINT_PREFER_NO_SCHEDULE, 1, 0, NULL, -1, NULL},
    {NULL, NS_TAINT, 0, 1, 0, NULL, -1, NULL},
    /* empty values are equal */
    {"[{'key':'k','operator':'Equal'}]", "[{'key':'k','effect':'NoSchedule'}]", VR_TAINT_FILTER, 1,
     0, NULL, -1, NULL},
    {"[{'key':'k','value':'x'}]", "[{'key':'k','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "k",
     -1, NULL},
    {"[{'key':'k'}]", "[{'key':'k','value':'x','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "k",
     -1, NULL},
    /* PreferNoSchedule: counted for scoring */
    {"[{'key':'a','operator':'Exists'}]", PREFER3, VR_TAINT_PREFER_NO_SCHEDULE, 0, 1, "b", -1,
     NULL},
    {"[{'key':'a','operator':'Exists'}]", PREFER3, VR_TAINT_FILTER, 0, 1, "c", -1, NULL},
    {"[{'key':'a','operator':'Exists'}]", PREFER3, VR_TAINT_ALL, 0, 2, "b", -1, NULL},
    {NULL, PREFER3, VR_TAINT_ALL, 0, 3, "a", -1, NULL},
    /* NoExecute and tolerationSeconds */
    {NULL, "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE, 0, 1, "node.kubernetes.io/unreachable", 0,
     NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':300") "]", "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE,
     1, 0, NULL, 300, NULL},
    {"[" TOL_UNREACHABLE("") "]", "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE, 1, 0, NULL, -1, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':0") "]", "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE, 1,
     0, NULL, 0, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':-5") "]", "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE,
     1, 0, NULL, 0, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':null") "]", "[" UNREACHABLE "]", VR_TAINT_NO_EXECUTE,
     1, 0, NULL, -1, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':300") "]", "[" UNREACHABLE "]", VR_TAINT_FILTER, 1,
     0, NULL, 300, NULL},
    /* NoExecute not in the set: no eviction time */
    {NULL, "[" UNREACHABLE "]", VR_TAINT_NO_SCHEDULE, 1, 0, NULL, -1, NULL},
    /* an effect-less toleration with seconds */
    {"[{'key':'node.kubernetes.io/unreachable','operator':'Exists','tolerationSeconds':60}]",
     "[" UNREACHABLE "]", VR_TAINT_ALL, 1, 0, NULL, 60, NULL},
    /* two NoExecute taints: the smallest bound wins; an unbounded one does not lift it */
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':300") "," TOL_NOT_READY(
         ",'tolerationSeconds':100") "]",
     "[" UNREACHABLE "," NOT_READY "]", VR_TAINT_NO_EXECUTE, 1, 0, NULL, 100, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':300") "," TOL_NOT_READY("") "]",
     "[" UNREACHABLE "," NOT_READY "]", VR_TAINT_NO_EXECUTE, 1, 0, NULL, 300, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':300") "]", "[" UNREACHABLE "," NOT_READY "]",
     VR_TAINT_NO_EXECUTE, 0, 1, "node.kubernetes.io/not-ready", 0, NULL},
    /* the first tolerating toleration is the one used */
    {"[{'operator':'Exists'}," TOL_UNREACHABLE(",'tolerationSeconds':10") "]", "[" UNREACHABLE "]",
     VR_TAINT_NO_EXECUTE, 1, 0, NULL, -1, NULL},
    {"[" TOL_UNREACHABLE(",'tolerationSeconds':10") ",{'operator':'Exists'}]", "[" UNREACHABLE "]",
     VR_TAINT_NO_EXECUTE, 1, 0, NULL, 10, NULL},
    /* Lt/Gt (§6.3) */
    {"[{'key':'level','operator':'Lt','value':'10'}]",
     "[{'key':'level','value':'5','effect':'NoSchedule'}]", VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    {"[{'key':'level','operator':'Lt','value':'5'}]",
     "[{'key':'level','value':'5','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "level", -1,
     NULL},
    {"[{'key':'level','operator':'Gt','value':'3'}]",
     "[{'key':'level','value':'5','effect':'NoSchedule'}]", VR_TAINT_FILTER, 1, 0, NULL, -1, NULL},
    {"[{'key':'level','operator':'Gt','value':'10'}]",
     "[{'key':'level','value':'5','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "level", -1,
     NULL},
    {"[{'key':'level','operator':'Lt','value':'x'}]",
     "[{'key':'level','value':'5','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "level", -1,
     NULL},
    {"[{'key':'level','operator':'Lt','value':'10'}]",
     "[{'key':'level','value':'abc','effect':'NoSchedule'}]", VR_TAINT_FILTER, 0, 1, "level", -1,
     NULL},
    /* malformed input */
    {"{}", NULL, VR_TAINT_ALL, -1, 0, NULL, 0, "tolerations: must be an array"},
    {NULL, "{}", VR_TAINT_ALL, -1, 0, NULL, 0, "taints: must be an array"},
    {"[5]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0, "tolerations[0]: must be an object"},
    {"[{'key':1}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0, "tolerations[0].key: must be a string"},
    {"[{'key':'a','value':true}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0,
     "tolerations[0].value: must be a string"},
    {"[{'key':'a','operator':'Exists'},{'key':'a','operator':'Foo'}]", NS_TAINT, VR_TAINT_ALL, -1,
     0, NULL, 0,
     "tolerations[1].operator: unsupported operator \"Foo\" (expected Equal, Exists, Lt or Gt)"},
    {"[{'key':'a','effect':'NoRun'}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0,
     "tolerations[0].effect: unknown effect \"NoRun\" " EFFECTS},
    {"[{'value':'x'}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0,
     "tolerations[0].operator: must be Exists when key is empty"},
    {"[{'operator':'Equal'}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0,
     "tolerations[0].operator: must be Exists when key is empty"},
    {"[{'key':'a','operator':'Exists','value':'x'}]", NULL, VR_TAINT_ALL, -1, 0, NULL, 0,
     "tolerations[0].value: must be empty when operator is Exists"},
    {"[{'key':'a','operator':'Exists','tolerationSeconds':1.5}]", NULL, VR_TAINT_ALL, -1, 0, NULL,
     0, "tolerations[0].tolerationSeconds: must be an integer"},
    {"[{'key':'a','operator':'Exists','tolerationSeconds':'30'}]", NULL, VR_TAINT_ALL, -1, 0, NULL,
     0, "tolerations[0].tolerationSeconds: must be an integer"},
    {NULL, "[3]", VR_TAINT_ALL, -1, 0, NULL, 0, "taints[0]: must be an object"},
    {NULL, "[{'effect':'NoSchedule'}]", VR_TAINT_ALL, -1, 0, NULL, 0,
     "taints[0].key: must not be empty"},
    {NULL, "[{'key':'a'}]", VR_TAINT_ALL, -1, 0, NULL, 0,
     "taints[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got \"\""},
    {NULL, "[{'key':'a','effect':'NoRun'}]", VR_TAINT_ALL, -1, 0, NULL, 0,
     "taints[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got \"NoRun\""},
    /* a malformed taint is an error even when its effect is not looked at */
    {NULL, "[{'key':'a','effect':'NoSchedule'},{'key':'b','effect':'Bad'}]",
     VR_TAINT_PREFER_NO_SCHEDULE, -1, 0, NULL, 0,
     "taints[1].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got \"Bad\""},
};

static void test_tolerations(void) {
  size_t i;
  for (i = 0; i < LEN(toleration_cases); i++) {
    char err[VR_SELECTOR_ERRLEN] = "";
    vr_toleration_result res;
    cJSON *tols, *taints;
    int got;
    tols = J(toleration_cases[i].tolerations);
    taints = J(toleration_cases[i].taints);
    memset(&res, 0x5A, sizeof res);
    got = vr_tolerations_check(tols, taints, toleration_cases[i].effects, &res, err, sizeof err);
    if (got != toleration_cases[i].expect) {
      fprintf(stderr, "toleration case %zu: got %d, expected %d %s\n", i, got,
              toleration_cases[i].expect, err);
    }
    CHECK(got == toleration_cases[i].expect);
    if (got >= 0 && got == toleration_cases[i].expect) {
      const cJSON *key = cJSON_GetObjectItemCaseSensitive(res.first_untolerated, "key");
      if (res.untolerated != toleration_cases[i].untolerated ||
          res.evict_after != toleration_cases[i].evict_after) {
        fprintf(stderr, "toleration case %zu: untolerated %zu evict_after %lld\n", i,
                res.untolerated, res.evict_after);
      }
      CHECK(res.untolerated == toleration_cases[i].untolerated);
      CHECK(res.evict_after == toleration_cases[i].evict_after);
      if (toleration_cases[i].first == NULL) {
        CHECK(res.first_untolerated == NULL);
      } else {
        CHECK(cJSON_IsString(key));
        if (cJSON_IsString(key)) CHECK_STR(key->valuestring, toleration_cases[i].first);
      }
    }
    if (toleration_cases[i].message != NULL) CHECK_STR(err, toleration_cases[i].message);
    /* without an out struct or an error buffer */
    CHECK(vr_tolerations_check(tols, taints, toleration_cases[i].effects, NULL, NULL, 0) ==
          toleration_cases[i].expect);
    cJSON_Delete(tols);
    cJSON_Delete(taints);
  }
}

/* A node with a NoSchedule and a NoExecute taint, as a scheduler and the eviction controller see
 * it; the first untolerated taint points into the taints array. */
static void test_tolerations_mixed(void) {
  char err[VR_SELECTOR_ERRLEN] = "";
  vr_toleration_result res;
  cJSON *taints = J("[{'key':'dedicated','value':'gpu','effect':'NoSchedule'}," UNREACHABLE "]");
  cJSON *tols = J("[" TOL_UNREACHABLE(",'tolerationSeconds':30") "]");
  CHECK(vr_tolerations_check(tols, taints, VR_TAINT_FILTER, &res, err, sizeof err) == 0);
  CHECK(res.untolerated == 1);
  CHECK(res.first_untolerated == cJSON_GetArrayItem(taints, 0));
  CHECK(res.evict_after == 30); /* only NoExecute taints bound the stay */
  CHECK(vr_tolerations_check(tols, taints, VR_TAINT_NO_EXECUTE, &res, err, sizeof err) == 1);
  CHECK(res.evict_after == 30);
  CHECK(vr_tolerations_check(tols, taints, VR_TAINT_NO_SCHEDULE, &res, err, sizeof err) == 0);
  CHECK(res.evict_after == -1);
  cJSON_Delete(taints);
  cJSON_Delete(tols);
}

int main(void) {
  test_label_text_matching();
  test_label_text_errors();
  test_label_json();
  test_label_json_errors();
  test_field_matching();
  test_field_errors();
  test_field_index_query();
  test_node_affinity();
  test_node_selector_match();
  test_preference_score();
  test_tolerations();
  test_tolerations_mixed();
  return CHECK_DONE();
}

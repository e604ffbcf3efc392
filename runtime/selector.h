/* selector.h: Kubernetes object selection on cJSON trees, for the simulated cluster (object store,
 * scheduler, controllers) and the API server it serves:
 *
 *  - label selectors, from the text form of `kubectl -l` / `?labelSelector=` or from a
 *    metav1.LabelSelector object, matched against a labels object;
 *  - field selectors (`?fieldSelector=`), matched against a whole object, with an index query;
 *  - node scheduling constraints of a pod or VMI spec (nodeSelector, required and preferred node
 *    affinity) matched against a Node;
 *  - tolerations against a node's taints.
 *
 * What it may not do: no Lua; nothing leaks (a selector is one object freed by its _free
 * function, everything else allocates nothing); bad input never aborts or asserts: it is reported
 * as a one-line message in a caller's buffer (`err`, `errlen`; err may be NULL, messages are cut
 * to fit; VR_SELECTOR_ERRLEN is enough for every message). Out of memory is reported the same
 * way ("out of memory"). The inputs are never modified, and the results point into them or into
 * the selector only. Integers are int64 (long long) everywhere. Positions in messages are 1-based
 * byte columns; JSON paths in messages are relative to the object passed and use 0-based indices,
 * as the apiserver prints them ("nodeSelectorTerms[0].matchExpressions[1].operator").
 *
 * Semantics follow Kubernetes (apimachinery labels and fields, component-helpers nodeaffinity,
 * core/v1 Toleration); the scheduling rules are those of /work/shared/reference/
 * kubevirt-migration.md §6 (cited there by section). Deliberate differences are listed in
 * selector.c's opening comment. */
#ifndef VMRUN_SELECTOR_H
#define VMRUN_SELECTOR_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define VR_SELECTOR_ERRLEN 256

/* ============================================================================================
 * Label selectors
 * ============================================================================================ */

typedef struct vr_label_selector vr_label_selector;

/* Parses the text form of a label selector: comma-separated requirements
 *   key=value  key==value  key!=value  key in (v1, v2)  key notin (v1)  key  !key  key>5  key<5
 * with whitespace allowed around every token. Keys are qualified names (an optional lowercase DNS
 * subdomain prefix of at most 253 characters and "/", then a name of 1-63 characters of
 * [A-Za-z0-9._-] starting and ending with an alphanumeric); values are at most 63 characters of
 * the same set, starting and ending with an alphanumeric, and may be empty ("key=" and the empty
 * members of "key in (a,)"). `>` and `<` need an integer value. The empty or all-blank text (and
 * text NULL) gives the selector that matches everything.
 * Returns a new selector (free with vr_label_selector_free) or NULL with a message naming the
 * column, e.g. "labelSelector: unexpected ',' at column 7",
 * "labelSelector: invalid label key \"-a\" at column 1: name part must ...". */
vr_label_selector *vr_label_selector_parse(const char *text, char *err, size_t errlen);

/* Builds a selector from a metav1.LabelSelector object: {matchLabels: {k: v}, matchExpressions:
 * [{key, operator: In|NotIn|Exists|DoesNotExist, values: [...]}]}, all ANDed. As in Kubernetes
 * (metav1.LabelSelectorAsSelector), the empty object {} (or one whose lists are empty) matches
 * everything, while a missing selector (selector NULL or JSON null) gives a valid selector that
 * matches nothing. Unknown members are ignored. Returns NULL with a message such as
 * "labelSelector: matchExpressions[0].values: 'In' needs at least one value" when the object is
 * malformed (wrong types, unknown operator, In/NotIn without values, Exists/DoesNotExist with
 * values, invalid label keys or values). */
vr_label_selector *vr_label_selector_from_json(const cJSON *selector, char *err, size_t errlen);

/* 1 if labels (a JSON object of string values; NULL, JSON null or a non-object means no labels)
 * satisfy every requirement, else 0. A label whose value is not a string counts as absent.
 * sel NULL matches nothing. Never fails. */
int vr_label_selector_matches(const vr_label_selector *sel, const cJSON *labels);

/* 1 if sel matches every object (no requirements, and not the matches-nothing selector). */
int vr_label_selector_is_empty(const vr_label_selector *sel);

void vr_label_selector_free(vr_label_selector *sel);

/* ============================================================================================
 * Field selectors
 * ============================================================================================ */

typedef struct vr_field_selector vr_field_selector;

/* Parses "metadata.name=x,spec.nodeName!=y,status.phase==Running": comma-separated terms
 * PATH OP VALUE with OP one of = == != (the first operator in the term counts). A path is
 * dot-separated segments of [A-Za-z0-9_-]; whether the resource supports it is the caller's
 * business (see vr_field_selector_term). In values, "\," "\=" and "\\" stand for , = and \
 * (fields.EscapeValue); any other backslash or an unescaped '=' is an error. Whitespace around
 * paths and values is ignored, and empty terms are skipped as the apiserver does ("a=b,,c=d").
 * The empty text (or NULL) matches everything.
 * Returns a new selector or NULL with a message such as
 * "fieldSelector: missing operator in \"metadata.name\" at column 1". */
vr_field_selector *vr_field_selector_parse(const char *text, char *err, size_t errlen);

/* 1 if object satisfies every term, else 0. The field at a path is compared as a string:
 * strings as they are, booleans as "true"/"false", integral numbers in decimal (others "%.17g");
 * a missing field (or null, or a path through a non-object) equals the empty string, as the
 * apiserver's field sets do; an object or array equals no value (so = fails and != holds).
 * sel NULL matches nothing. Never fails. */
int vr_field_selector_matches(const vr_field_selector *sel, const cJSON *object);

/* Index query: the value that sel requires at path by equality (the first "path=value" or
 * "path==value" term), or NULL when no term pins path. Objects outside the index entry for that
 * value cannot match; the candidates must still be checked with vr_field_selector_matches (other
 * terms). The string lives as long as sel. */
const char *vr_field_selector_requires(const vr_field_selector *sel, const char *path);

/* Number of terms, and term i (0-based) as path, negated (1 for !=) and unescaped value; returns
 * 0 when i is out of range (outputs untouched). Lets the caller reject unsupported fields with
 * its own message. Any output pointer may be NULL. */
size_t vr_field_selector_count(const vr_field_selector *sel);
int vr_field_selector_term(const vr_field_selector *sel, size_t i, const char **path, int *negated,
                           const char **value);

void vr_field_selector_free(vr_field_selector *sel);

/* ============================================================================================
 * Node scheduling constraints (reference §6.1, §6.2)
 *
 * `spec` is a pod spec or a VMI spec (both carry nodeSelector and affinity the same way); `node`
 * is a Node object (labels from metadata.labels, name from metadata.name; NULL = no labels, empty
 * name). Malformed constraints are errors, never silent matches: every term is checked, even
 * after one has matched, so an error does not depend on the order of the terms.
 * ============================================================================================ */

/* Does node satisfy the NodeSelector object node_selector ({nodeSelectorTerms: [...]}; the shape
 * of requiredDuringSchedulingIgnoredDuringExecution)? Terms are ORed; within a term every
 * matchExpressions entry (In, NotIn, Exists, DoesNotExist, Gt, Lt on node labels) and every
 * matchFields entry (metadata.name with In or NotIn and exactly one value) must hold. A term with
 * no expressions and no fields matches nothing; no terms, nothing matches. Gt/Lt compare the
 * label value parsed as an integer (a label that is not one does not match).
 * Returns 1 (matches), 0 (does not) or -1 with a message such as
 * "nodeSelectorTerms[0].matchExpressions[1].operator: unsupported operator \"Foo\" (...)". */
int vr_node_selector_match(const cJSON *node_selector, const cJSON *node, char *err, size_t errlen);

/* The filter of §6.1 minus taints and cordon: spec.nodeSelector (every pair equals a node label)
 * AND spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution (as
 * vr_node_selector_match). Absent or null parts impose nothing. Returns 1, 0, or -1 with a message
 * whose path starts at the spec ("affinity.nodeAffinity.required...nodeSelectorTerms[0]...",
 * "nodeSelector: value of \"zone\" must be a string"). */
int vr_node_matches_spec(const cJSON *spec, const cJSON *node, char *err, size_t errlen);

/* The node's raw preferred-affinity score: the sum of the weights (0-100; 0 is ignored) of the
 * spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution terms whose
 * preference matches node (an empty preference matches nothing). Preferred terms never filter;
 * normalising across nodes is the caller's job. Returns the score (>= 0), or -1 with a message
 * when a term is malformed or a weight is not an integer in 0..100. */
long long vr_node_preference_score(const cJSON *spec, const cJSON *node, char *err, size_t errlen);

/* ============================================================================================
 * Taints and tolerations (reference §6.3)
 * ============================================================================================ */

/* Taint effects, combined as a set. The scheduler's filter looks at NoSchedule and NoExecute
 * (§6.1), its score at PreferNoSchedule, the taint-eviction controller at NoExecute. */
enum {
  VR_TAINT_NO_SCHEDULE = 1u << 0,
  VR_TAINT_PREFER_NO_SCHEDULE = 1u << 1,
  VR_TAINT_NO_EXECUTE = 1u << 2,
  VR_TAINT_FILTER = VR_TAINT_NO_SCHEDULE | VR_TAINT_NO_EXECUTE,
  VR_TAINT_ALL = VR_TAINT_NO_SCHEDULE | VR_TAINT_PREFER_NO_SCHEDULE | VR_TAINT_NO_EXECUTE
};

typedef struct vr_toleration_result {
  size_t untolerated;             /* taints with an effect in the set that nothing tolerates */
  const cJSON *first_untolerated; /* the first of them (points into taints), NULL if none */
  /* Only when VR_TAINT_NO_EXECUTE is in the set: -1 when the NoExecute taints never evict the
   * pod (there are none, or each is tolerated by a toleration without tolerationSeconds); 0 when
   * it must go at once (a NoExecute taint is not tolerated, or tolerationSeconds <= 0); else the
   * seconds after the taints were observed at which the taint-eviction controller evicts it.
   * -1 when NoExecute is not in the set. */
  long long evict_after;
} vr_toleration_result;

/* Checks tolerations (a pod/VMI spec's `tolerations` array; NULL or null = none) against taints
 * (a Node's spec.taints array; NULL or null = none), looking only at taints whose effect is in
 * `effects`. A toleration tolerates a taint when its effect is empty or equal, its key is empty
 * or equal, and: operator Equal (or empty) with equal values, Exists, or Lt/Gt comparing integer
 * values (§6.3). Returns 1 when every such taint is tolerated, 0 when not, -1 with a message for
 * malformed input (unknown operator or effect, empty key without Exists, Exists with a value, a
 * taint without key or effect, a non-integer tolerationSeconds, wrong JSON types). out may be
 * NULL; it is filled on 1 and 0. */
int vr_tolerations_check(const cJSON *tolerations, const cJSON *taints, unsigned effects,
                         vr_toleration_result *out, char *err, size_t errlen);

#endif

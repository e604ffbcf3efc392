/* patch.h: the three PATCH formats of the Kubernetes API, applied to cJSON trees:
 *   - JSON merge patch (RFC 7386, application/merge-patch+json): vr_patch_merge
 *   - JSON patch (RFC 6902, application/json-patch+json): vr_patch_json
 *   - Kubernetes strategic merge patch (application/strategic-merge-patch+json) for the kinds
 *     vmrun serves, other kinds falling back to merge-patch semantics: vr_patch_strategic
 *
 * Rules every function keeps: no Lua; the inputs are never modified (each call reads doc and patch
 * and builds a new tree that the caller owns and frees with cJSON_Delete); nothing leaks and
 * nothing aborts on any input, allocation failure included: a failure returns NULL and fills
 * *err (err may be NULL); recursion is bounded, because trees that nest deeper than
 * VR_PATCH_MAX_DEPTH containers (or that are not well-formed cJSON: invalid types, strings or
 * member names that are NULL) are refused before any work is done.
 *
 * Duplicate member names in a patch object: the last one counts, as with Go's and Python's JSON
 * decoders. Member order: members of doc keep their order, new members follow in patch order. */
#ifndef VMRUN_PATCH_H
#define VMRUN_PATCH_H

#include <cjson/cJSON.h>

/* Deepest nesting of arrays and objects accepted in a document, a patch or a result (the same
 * limit as cJSON's parser and vmrun's codecs). */
#define VR_PATCH_MAX_DEPTH 1000

/* Why a patch failed. The HTTP statuses are what the Kubernetes API server answers. */
typedef enum vr_patch_fail {
  VR_PATCH_OK = 0,
  VR_PATCH_BAD_PATCH,    /* the patch is malformed: 400 Bad Request */
  VR_PATCH_CANNOT_APPLY, /* well-formed, but not to this document (missing path, failed test):
                            422 Unprocessable Entity */
  VR_PATCH_NO_MEMORY,    /* out of memory: 500 */
} vr_patch_fail;

typedef struct vr_patch_error {
  vr_patch_fail kind;
  char message[256]; /* one line, no trailing newline; long paths are shortened with "..." */
} vr_patch_error;

/* The patch formats, as named by the PATCH request's Content-Type. */
typedef enum vr_patch_type {
  VR_PATCH_TYPE_UNSUPPORTED = 0, /* anything else: the API server answers 415 */
  VR_PATCH_TYPE_MERGE,           /* application/merge-patch+json */
  VR_PATCH_TYPE_JSON,            /* application/json-patch+json */
  VR_PATCH_TYPE_STRATEGIC,       /* application/strategic-merge-patch+json */
} vr_patch_type;

/* RFC 7386. Returns doc with patch merged in: a null member deletes, an object member merges
 * recursively, any other value replaces; a patch that is not an object replaces the whole document
 * (a copy of it is returned). doc may be any value; only objects are merged into. Fails only with
 * VR_PATCH_BAD_PATCH (NULL or malformed trees, too deep) or VR_PATCH_NO_MEMORY. */
cJSON *vr_patch_merge(const cJSON *doc, const cJSON *patch, vr_patch_error *err);

/* RFC 6902. ops must be an array of operation objects (add, remove, replace, move, copy, test;
 * members an operation does not use are ignored). Paths are JSON Pointers (RFC 6901: ~0 and ~1
 * escapes, "-" for the end of an array in add, move and copy targets). All or nothing: the
 * operations run on a private copy of doc, so any failure returns NULL and doc is as it was.
 * Messages name the operation by its 0-based index in ops, its op and its path:
 *   op 2 (remove /spec/taints/3): no such element
 * VR_PATCH_BAD_PATCH: ops is not an array, an operation is malformed (not an object, missing or
 * duplicated member, unknown op, pointer syntax, "from" a proper prefix of "path", result too
 * deep). VR_PATCH_CANNOT_APPLY: the document does not fit (missing target or parent, index out
 * of range, "remove" of the whole document, failed "test"). */
cJSON *vr_patch_json(const cJSON *doc, const cJSON *ops, vr_patch_error *err);

/* Kubernetes strategic merge patch. patch must be an object. kind selects the field strategies
 * (NULL: doc's own "kind" member); for a kind that vr_patch_strategic_known() does not know,
 * every list is replaced, which is merge-patch semantics. For the known kinds: maps merge as in
 * RFC 7386; a list is replaced unless its field has a strategy (merge by key, merge as a set of
 * primitives; see patch.c for the table and its sources); directives:
 *   $patch: replace | delete | merge in a map (replace: take the map as given; delete: remove the
 *     field, like null; merge: the default) and as a list element ({"$patch": "replace"} alone
 *     replaces the list with the other elements; {"$patch": "delete", KEY: V} deletes every element
 *     whose merge key equals V; {"$patch": "merge"} is the default),
 *   $deleteFromPrimitiveList/FIELD: [values] removes those values from FIELD,
 *   $setElementOrder/FIELD: [values or {KEY: V}] reorders a merged list: the elements it names
 *     take, in its order, the positions that the named elements held; others stay where they are.
 *     It is ignored for lists that are replaced (the patch already gives their order),
 *   $retainKeys: [names] clears every field of the map that is not named (every non-null field of
 *     the patch map must be named).
 * Any other member name starting with '$' is an unknown directive and fails
 * (VR_PATCH_BAD_PATCH): a strategic merge patch cannot set fields whose names start with '$'.
 * Lists of a merged field that are left empty stay as []. A "$patch": "delete" at the top level
 * fails rather than deleting the object. Fails with VR_PATCH_BAD_PATCH (malformed patch or
 * directive, list element without its merge key) or VR_PATCH_NO_MEMORY. */
cJSON *vr_patch_strategic(const cJSON *doc, const cJSON *patch, const char *kind,
                          vr_patch_error *err);

/* 1 when kind has a strategy table (Node, Pod, VirtualMachine, VirtualMachineInstance,
 * VirtualMachineInstanceMigration, PodDisruptionBudget, Lease), else 0. The real API server refuses
 * strategic merge patches for custom resources (415); whether to do the same is the caller's
 * choice. */
int vr_patch_strategic_known(const char *kind);

/* The patch type a Content-Type header names (media type compared case-insensitively, parameters
 * such as "; charset=utf-8" ignored). NULL gives VR_PATCH_TYPE_UNSUPPORTED. */
vr_patch_type vr_patch_type_of(const char *content_type);

/* Applies a patch of the given type (kind is used by strategic merge patches only). An unsupported
 * type fails with VR_PATCH_BAD_PATCH; check the type first to answer 415. */
cJSON *vr_patch_apply(vr_patch_type type, const cJSON *doc, const cJSON *patch, const char *kind,
                      vr_patch_error *err);

#endif

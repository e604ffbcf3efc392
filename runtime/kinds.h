/* kinds.h: the API resources vmrun knows: for each kind its API group and preferred version, the
 * plural resource name used in URLs, short names, whether it is namespaced, and the columns
 * clients show. Used to turn a kind name from a playbook ("Pod", "vmi", "VirtualMachine",
 * "example.com/Widget") into a group and kind, and by the API server for discovery. Unknown kinds
 * are not in the table; they are still stored and served as they are. Read-only data; no Lua. */
#ifndef VMRUN_KINDS_H
#define VMRUN_KINDS_H

#include <stddef.h>

typedef struct vr_kind_info {
  const char *kind;        /* "VirtualMachineInstance" */
  const char *group;       /* "kubevirt.io"; "" for the core group */
  const char *version;     /* preferred version: "v1" */
  const char *plural;      /* "virtualmachineinstances" */
  const char *short_names; /* comma-separated: "vmi,vmis" (may be "") */
  int namespaced;
} vr_kind_info;

/* Every known kind, ending with an entry whose kind is NULL. */
extern const vr_kind_info vr_known_kinds[];

/* Looks a name up: a kind ("Pod"), a plural ("pods"), a short name ("vmi") or "group/Kind"
 * ("kubevirt.io/VirtualMachine"), case-insensitively for kinds, plurals and short names. NULL
 * when unknown. */
const vr_kind_info *vr_kind_lookup(const char *name);

/* Resolves a name to a group and kind for the store: a known name gives its table entry; an
 * unknown "group/Kind" or "group/version/Kind" is taken as given. Returns 0, or -1 with a
 * message ("unknown kind 'Podd' (did you mean 'Pod'?); name unknown kinds as group/Kind") when
 * the name is neither. */
int vr_kind_resolve(const char *name, char *group, size_t glen, char *kind, size_t klen, char *err,
                    size_t errlen);

/* 1 for the API groups built into the Kubernetes API server (core, apps, policy, ...), whose
 * objects take strategic merge patches; 0 for custom resources' groups. */
int vr_kind_builtin_group(const char *group);

#endif

/* test_kinds.c: kind lookup by kind, plural, short name and group/Kind; resolution of unknown
 * kinds; the suggestion for a misspelt kind; table consistency with the store's scoping. */
#include <string.h>

#include "check.h"
#include "kinds.h"
#include "store.h"

static void check_resolve(const char *name, const char *group, const char *kind) {
  char g[64], k[64], err[256];
  CHECK(vr_kind_resolve(name, g, sizeof g, k, sizeof k, err, sizeof err) == 0);
  CHECK_STR(g, group);
  CHECK_STR(k, kind);
}

int main(void) {
  char g[64], k[64], err[256];
  int i;
  check_resolve("Pod", "", "Pod");
  check_resolve("pods", "", "Pod");
  check_resolve("vmi", "kubevirt.io", "VirtualMachineInstance");
  check_resolve("VMIM", "kubevirt.io", "VirtualMachineInstanceMigration");
  check_resolve("virtualmachines", "kubevirt.io", "VirtualMachine");
  check_resolve("pdb", "policy", "PodDisruptionBudget");
  check_resolve("kubevirt.io/VirtualMachine", "kubevirt.io", "VirtualMachine");
  check_resolve("example.com/Widget", "example.com", "Widget");
  check_resolve("example.com/v1/Widget", "example.com", "Widget");
  CHECK(vr_kind_lookup("kubevirt.io/Pod") == NULL);
  CHECK(vr_kind_resolve("Podd", g, sizeof g, k, sizeof k, err, sizeof err) == -1);
  CHECK_STR(err, "unknown kind 'Podd' (did you mean 'Pod'?); name unknown kinds as group/Kind");
  CHECK(vr_kind_resolve("Gizmo", g, sizeof g, k, sizeof k, err, sizeof err) == -1);
  CHECK_STR(err, "unknown kind 'Gizmo'; name unknown kinds as group/Kind");
  CHECK(vr_kind_resolve("/x", g, sizeof g, k, sizeof k, err, sizeof err) == -1);
  for (i = 0; vr_known_kinds[i].kind; i++) { /* the store scopes kinds the same way */
    CHECK(vr_kind_cluster_scoped(vr_known_kinds[i].group, vr_known_kinds[i].kind) ==
          !vr_known_kinds[i].namespaced);
  }
  return CHECK_DONE();
}

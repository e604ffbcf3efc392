/* vmx.h: the VMware key/value text format of .vmx and .vmsd files (reference vmware-cbt.md §2): one
 * `key = "value"` per line (ending with LF, CRLF or a CR alone), `#` comments, keys compared
 * case-insensitively, `|XX` hex escapes in values, dotted namespaces whose `<ns>.present = "FALSE"`
 * turns the whole group off. A parse never fails on odd lines: each one becomes an issue with its
 * line number, as virt-v2v tolerates them (the first of duplicate keys wins). It fails only on
 * input that is not such a file at all (binary data, a VMDK disk image).
 *
 * Also the disks a .vmx declares (scsi, sata, ide and nvme buses) with what the change-tracking
 * checks need. No Lua, no I/O here: callers read the file. */
#ifndef VMRUN_VMX_H
#define VMRUN_VMX_H

#include <stddef.h>

typedef struct vr_vmx_entry {
  char *key;   /* as written */
  char *lower; /* lower-cased, the key lookups use */
  char *value; /* unescaped */
  int line;
  int quoted; /* 0 when the value was written without quotes */
} vr_vmx_entry;

typedef struct vr_vmx_issue {
  int line;
  char *message;
} vr_vmx_issue;

typedef struct vr_vmx {
  vr_vmx_entry *entries; /* in file order; duplicates after the first are not here */
  size_t count, cap;
  vr_vmx_issue *issues; /* in line order */
  size_t issue_count, issue_cap;
  void *index; /* lower-cased key -> entry (a vr_strmap) */
} vr_vmx;

#define VR_VMX_ERRLEN 256

/* Parses text (len bytes). Returns 0, or -1 with err set ("line N: ...") when the input is not a
 * key/value file (NUL bytes, a VMDK image or binary descriptor) or memory ran out; *out is then
 * empty but still to be freed. */
int vr_vmx_parse(const char *text, size_t len, vr_vmx *out, char *err, size_t errlen);
/* The same with flags: VR_VMX_UNQUOTED accepts values without quotes silently (VMDK descriptors
 * write `version=1`), VR_VMX_DESCRIPTOR accepts a text that starts as a disk descriptor. */
#define VR_VMX_UNQUOTED   1
#define VR_VMX_DESCRIPTOR 2
int vr_vmx_parse_flags(const char *text, size_t len, int flags, vr_vmx *out, char *err,
                       size_t errlen);
void vr_vmx_free(vr_vmx *v);

/* The entry for key (any case), or NULL. */
const vr_vmx_entry *vr_vmx_find(const vr_vmx *v, const char *key);
/* Its value, or NULL. */
const char *vr_vmx_get(const vr_vmx *v, const char *key);
/* A boolean value, read liberally: true/false, t/f and yes/no in any case, 1/0 (a superset of
 * what VMware writes and of Go's ParseBool, which Forklift uses): 1 or 0; -1 when the key is
 * absent or its value is not a boolean. */
int vr_vmx_bool(const vr_vmx *v, const char *key);
/* Whether a namespace ("scsi0:1", "scsi0") is present: its `.present` is true and every enclosing
 * namespace that has a `.present` is true too ("scsi0:1" sits in "scsi0"). */
int vr_vmx_present(const vr_vmx *v, const char *ns);

/* A device on a disk bus, from its `<bus><controller>:<unit>.*` keys. */
typedef struct vr_vmx_disk {
  char node[32];   /* "scsi0:1" */
  const char *bus; /* "scsi", "sata", "ide" or "nvme" */
  int controller, unit;
  int present;             /* vr_vmx_present(node) */
  int is_disk;             /* a hard disk (not a CD-ROM or floppy image) */
  const char *device_type; /* as written, or NULL */
  const char *file;        /* fileName, or NULL */
  const char *mode;        /* mode as written ("persistent" when absent) */
  int independent;         /* mode independent-persistent or independent-nonpersistent */
  int ctk_enabled;         /* vr_vmx_bool of <node>.ctkEnabled: 1, 0 or -1 */
  int line;                /* the line of its first key */
} vr_vmx_disk;

/* The devices declared on disk buses, sorted by bus, controller and unit (malloc'd array the
 * caller frees; strings point into v). Returns the count, or (size_t)-1 when out of memory. */
size_t vr_vmx_disks(const vr_vmx *v, vr_vmx_disk **out);

#endif

/* vmdk.h: the VMDK disk descriptor (reference vmware-cbt.md §1.4, §2.4, §2.5): the text file
 * `<disk>.vmdk` next to a flat or delta extent, or the descriptor embedded in a monolithic sparse
 * ("KDMV") image. What the change-tracking checks read from it: the descriptor version (3 while
 * CBT is on), changeTrackPath, createType (RDM in physical or virtual mode, delta formats),
 * CID/parentCID, parentFileNameHint, the extents and the ddb.* entries, each with its line.
 * Odd lines are issues, never failures; only input that holds no descriptor fails. No Lua, no
 * I/O. */
#ifndef VMRUN_VMDK_H
#define VMRUN_VMDK_H

#include <stddef.h>
#include <stdint.h>

#include "vmx.h"

typedef struct vr_vmdk_extent {
  char *access; /* RW, RDONLY, NOACCESS */
  uint64_t sectors;
  char *type; /* FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, VMFSRDM, VMFSRAW, SESPARSE, ... */
  char *file; /* NULL for ZERO extents */
  int line;
} vr_vmdk_extent;

typedef struct vr_vmdk {
  vr_vmx fields; /* version, CID, parentCID, createType, changeTrackPath, ddb.*, ...:
                    keys in any case, values unquoted, each with its line */
  vr_vmdk_extent *extents;
  size_t extent_count, extent_cap;
  int embedded; /* read from inside a monolithic sparse image */
} vr_vmdk;

#define VR_VMDK_ERRLEN 256

/* Parses a descriptor: the text of a descriptor file, or a whole monolithic sparse image (its
 * header says where the embedded descriptor is). Returns 0, or -1 with err set when the input
 * holds no descriptor (another binary file, a sparse image without one, a .vmx) or memory ran
 * out; *out is then empty but still to be freed. */
int vr_vmdk_parse(const char *data, size_t len, vr_vmdk *out, char *err, size_t errlen);
/* The descriptor text alone (embedded: cut from a sparse image, so NUL padding ends it). */
int vr_vmdk_parse_text(const char *text, size_t len, int embedded, vr_vmdk *out, char *err,
                       size_t errlen);

/* An embedded descriptor is at most this big (it is a few hundred bytes). */
#define VR_VMDK_DESCRIPTOR_MAX ((uint64_t)1 << 20)
/* Where the descriptor of a monolithic sparse image is, from the image's first bytes (its
 * SparseExtentHeader): byte offset and size. -1 with err when the header is short, names none,
 * or names one out of range; callers that hold the whole image also check it against its
 * length. */
int vr_vmdk_sparse_descriptor(const unsigned char *header, size_t header_len, uint64_t *offset,
                              uint64_t *size, char *err, size_t errlen);
void vr_vmdk_free(vr_vmdk *d);

/* The descriptor's version (1, 2 or 3), or 0 when missing or not a number. */
int vr_vmdk_version(const vr_vmdk *d);
/* Whether createType names a raw device mapping in physical (passthrough) mode:
 * vmfsPassthroughRawDeviceMap or vmfsRDMP (-1 when createType is missing). */
int vr_vmdk_physical_rdm(const vr_vmdk *d);
/* Whether createType names a raw device mapping (either mode). */
int vr_vmdk_rdm(const vr_vmdk *d);

#endif

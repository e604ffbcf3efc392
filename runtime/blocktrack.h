/* blocktrack.h: the disk-image change tracker behind cbt.track and cbt.changed. A tracking file
 * beside an image (or any regular file) holds one XXH3-64 hash per block and the sequence number
 * in which each block last changed; each vr_bt_track compares the image with it and writes the
 * next sequence; vr_bt_changed answers "which byte ranges changed since change ID X" from it.
 * The file's binary format is documented in docs/cbt.md and in blocktrack.c.
 *
 * Reads the image; writes only the tracking file, through a temporary file, fsync and rename, so
 * that a crash leaves the previous tracking file or the new one, and a change ID is handed out
 * only once the file that holds it is durable. A tracking file that fails its checks (magic,
 * sizes, block size, sequence, checksum, the image's inode) is never trusted: vr_bt_changed
 * answers VR_BT_RESET_REQUIRED and the next vr_bt_track starts a new epoch. A file of a newer
 * format is left alone (VR_BT_INPUT) unless a reset is asked for. Sequences grow by a random
 * step, so that a tracking file restored from a backup does not hand out a change ID again.
 * Thread-safe (no shared state but the test hook vr_bt_test_exit_at); uses no Lua, and may run
 * on a worker thread. */
#ifndef VMRUN_BLOCKTRACK_H
#define VMRUN_BLOCKTRACK_H

#include <stddef.h>
#include <stdint.h>

#define VR_BT_DEFAULT_BLOCK_SIZE ((uint32_t)64 << 10)
#define VR_BT_MIN_BLOCK_SIZE     ((uint32_t)4 << 10)
#define VR_BT_MAX_BLOCK_SIZE     ((uint32_t)64 << 20)
#define VR_BT_SUFFIX             ".vmrun-cbt"
#define VR_BT_CHANGE_ID_MAX      64 /* "8-4-4-4-12 UUID/sequence" and the NUL */

typedef enum vr_bt_status {
  VR_BT_OK = 0,
  VR_BT_INPUT,          /* bad argument, or the image cannot be read */
  VR_BT_IO,             /* the tracking file cannot be written */
  VR_BT_CONFLICT,       /* another tracker holds the image's lock */
  VR_BT_RESET_REQUIRED, /* the change ID is not of the tracking file's epoch, or no valid file */
  VR_BT_MEMORY,
  VR_BT_CANCELLED, /* *cancel was set: the pass stopped, the tracking file is as it was */
} vr_bt_status;

typedef struct vr_bt_options {
  const char *state_path;     /* the tracking file; NULL: the image's path + VR_BT_SUFFIX */
  uint32_t block_size;        /* 0: the tracking file's, else VR_BT_DEFAULT_BLOCK_SIZE */
  int reset;                  /* start a new epoch even when the tracking file is valid */
  const volatile int *cancel; /* optional: set to non-zero (from any thread) to stop a pass */
} vr_bt_options;

/* What a tracking pass did, or what a tracking file holds. */
typedef struct vr_bt_info {
  char change_id[VR_BT_CHANGE_ID_MAX];   /* the tracking file's change ID after the call */
  char previous_id[VR_BT_CHANGE_ID_MAX]; /* vr_bt_track: the ID it continued from, "" if none */
  char reset_reason[512]; /* vr_bt_track: why a new epoch started ("" when none did) */
  uint64_t image_size;    /* bytes, when the image was last tracked */
  uint64_t blocks;
  uint32_t block_size;
  uint64_t changed_blocks; /* vr_bt_track: blocks whose content changed in this pass */
  uint64_t data_blocks;    /* blocks that hold data (not entirely in a hole) */
  uint64_t bytes_read;     /* vr_bt_track: bytes read from the image (holes are not read) */
  int error_in_state; /* on failure: 1 when the error concerns the tracking file, not the image */
} vr_bt_info;

typedef struct vr_bt_extent {
  uint64_t start, length;
} vr_bt_extent;

typedef struct vr_bt_extents {
  vr_bt_extent *items; /* owned; free() it */
  size_t count, capacity;
  uint64_t total_bytes;
} vr_bt_extents;

/* Hashes image and updates (or creates) its tracking file; info->change_id is the new change ID.
 * On any status but VR_BT_OK, err says what failed, naming the file, and the tracking file is as
 * it was. */
vr_bt_status vr_bt_track(const char *image, const vr_bt_options *opts, vr_bt_info *info, char *err,
                         size_t errlen);

/* The byte ranges of image that changed after change ID since and up to the tracking file's
 * current change ID, merged and in order, none longer than max_length (0: no limit) and none
 * past the image's size. since "*" gives every block that held data at the last track. On
 * VR_BT_OK, out holds the extents (the caller frees out->items) and info the tracking file's
 * state; otherwise out is empty and err says why. */
vr_bt_status vr_bt_changed(const char *image, const char *state_path, const char *since,
                           uint64_t max_length, vr_bt_extents *out, vr_bt_info *info, char *err,
                           size_t errlen);

/* The default tracking file of image, in buf; 0, or -1 when it does not fit. */
int vr_bt_default_state_path(const char *image, char *buf, size_t buflen);

/* Test hook: when set to a stage number, vr_bt_track _exit()s with status 86 at that stage,
 * as a crash there would end it. 1: half the records written to the temporary file; 2: the
 * temporary file complete and synced, not renamed; 3: renamed, the folder not synced. */
extern int vr_bt_test_exit_at;

#endif

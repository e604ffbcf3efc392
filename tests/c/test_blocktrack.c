/* test_blocktrack.c: the disk-image change tracker (runtime/blocktrack.c). A property test
 * writes random changes (data, rewrites with the same bytes, punched holes, zeros into holes,
 * growth and shrinking) into sparse images over many seeds and checks that vr_bt_changed returns
 * exactly the changed blocks for every earlier change ID; then crashes (a forked pass stopped at
 * each stage), damaged, foreign and newer tracking files, change-ID parsing, and the lock. Works
 * in a fresh folder under $TMPDIR and removes it. */
#define _GNU_SOURCE /* fallocate, SEEK_DATA */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocktrack.h"
#include "check.h"

static char folder[256], image[300], state[320];

static uint64_t rng_state;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) {
  return n == 0 ? 0 : rnd() % n;
}

/* The image's bytes as the test expects them. */
typedef struct model {
  unsigned char *bytes;
  uint64_t size;
} model;

static void model_resize(model *m, uint64_t size) {
  m->bytes = realloc(m->bytes, size ? size : 1);
  if (size > m->size) memset(m->bytes + m->size, 0, size - m->size);
  m->size = size;
}

static void write_at(int fd, model *m, uint64_t offset, const unsigned char *data, uint64_t len) {
  CHECK(pwrite(fd, data, len, (off_t)offset) == (ssize_t)len);
  if (offset + len > m->size) model_resize(m, offset + len);
  memcpy(m->bytes + offset, data, len);
}

/* One random change to the image and the model. */
static void mutate(int fd, model *m) {
  unsigned char buf[40000];
  uint64_t kind = below(10), offset = below(m->size + 1), len = 1 + below(sizeof buf);
  if (kind <= 3) { /* new bytes */
    for (uint64_t i = 0; i < len; i++) buf[i] = (unsigned char)rnd();
    write_at(fd, m, offset, buf, len);
  } else if (kind == 4 && m->size > 0) { /* the same bytes again: no change */
    if (offset + len > m->size) len = m->size - offset;
    memcpy(buf, m->bytes + offset, len);
    write_at(fd, m, offset, buf, len);
  } else if (kind == 5 && m->size > 0) { /* a punched hole */
    if (offset + len > m->size) len = m->size - offset;
    if (len > 0 &&
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
      memset(m->bytes + offset, 0, len);
  } else if (kind == 6) { /* zeros written (into a hole or over data) */
    memset(buf, 0, len);
    write_at(fd, m, offset, buf, len);
  } else if (kind == 7) { /* grows, with a hole */
    uint64_t size = m->size + below(200000);
    CHECK(ftruncate(fd, (off_t)size) == 0);
    model_resize(m, size);
  } else if (kind == 8 && m->size > 0) { /* shrinks */
    uint64_t size = m->size - below(m->size / 4 + 1);
    CHECK(ftruncate(fd, (off_t)size) == 0);
    model_resize(m, size);
  } else { /* a far write: a data island after a hole */
    uint64_t at = m->size + below(300000);
    for (uint64_t i = 0; i < 5000; i++) buf[i] = (unsigned char)rnd();
    write_at(fd, m, at, buf, 5000);
  }
}

/* A snapshot of the model at one tracking pass. */
typedef struct pass_state {
  unsigned char *bytes;
  uint64_t size;
  char change_id[VR_BT_CHANGE_ID_MAX];
  unsigned char *has_data; /* per block, from SEEK_DATA at the pass */
  unsigned char *changed;  /* per block: new, or other bytes than at the pass before */
} pass_state;

static int block_equal(const pass_state *a, const pass_state *b, uint64_t block, uint32_t bs) {
  for (uint64_t i = block * bs; i < (block + 1) * bs; i++) {
    unsigned char x = i < a->size ? a->bytes[i] : 0, y = i < b->size ? b->bytes[i] : 0;
    if (x != y) return 0;
  }
  return 1;
}

static uint64_t blocks_of(uint64_t size, uint32_t bs) {
  return (size + bs - 1) / bs;
}

/* Per block: 1 where the file holds data, as SEEK_DATA/SEEK_HOLE say. */
static unsigned char *data_map(const char *path, uint64_t size, uint32_t bs) {
  uint64_t n = blocks_of(size, bs);
  unsigned char *map = calloc(n + 1, 1);
  int fd = open(path, O_RDONLY);
  off_t pos = 0;
  while ((uint64_t)pos < size) {
    off_t data = lseek(fd, pos, SEEK_DATA), hole;
    if (data < 0) break;
    hole = lseek(fd, data, SEEK_HOLE);
    for (uint64_t b = (uint64_t)data / bs; b < n && b * bs < (uint64_t)hole; b++) map[b] = 1;
    pos = hole;
  }
  close(fd);
  return map;
}

/* The extents must be in order, not touching, within the size and no longer than max. */
static void check_shape(const vr_bt_extents *ex, uint64_t size, uint64_t max_length) {
  for (size_t i = 0; i < ex->count; i++) {
    CHECK(ex->items[i].length > 0);
    CHECK(ex->items[i].start + ex->items[i].length <= size);
    if (max_length) CHECK(ex->items[i].length <= max_length);
    if (i > 0) {
      uint64_t prev_end = ex->items[i - 1].start + ex->items[i - 1].length;
      CHECK(prev_end <= ex->items[i].start);
      if (max_length == 0 || ex->items[i - 1].length < max_length)
        CHECK(prev_end < ex->items[i].start); /* merged */
    }
  }
}

/* Marks in covered[] the blocks that the extents cover; 0 when an extent starts or ends inside
 * a block other than at the image's end. */
static int covered_blocks(const vr_bt_extents *ex, uint32_t bs, uint64_t size,
                          unsigned char *covered) {
  int ok = 1;
  for (size_t i = 0; i < ex->count; i++) {
    uint64_t start = ex->items[i].start, end = start + ex->items[i].length;
    if (start % bs != 0 || (end % bs != 0 && end != size)) ok = 0;
    for (uint64_t b = start / bs; b * bs < end; b++) covered[b] = 1;
  }
  return ok;
}

static void property_run(uint64_t seed) {
  enum { PASSES = 6 };
  static const uint32_t sizes[] = {4096, 8192, 16384, 65536};
  pass_state passes[PASSES];
  model m = {0};
  uint32_t bs;
  int fd;
  char err[1024];
  rng_state = seed * 7919 + 1;
  bs = sizes[below(4)];
  unlink(image);
  unlink(state);
  fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  model_resize(&m, below(600000));
  CHECK(ftruncate(fd, (off_t)m.size) == 0);
  for (int i = 0; i < 1 + (int)below(4); i++) mutate(fd, &m);
  for (int k = 0; k < PASSES; k++) {
    vr_bt_options opts = {.block_size = k == 0 ? bs : 0};
    vr_bt_info info;
    if (k > 0)
      for (int i = 0; i < (int)below(6); i++) mutate(fd, &m);
    CHECK(fsync(fd) == 0);
    CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_OK);
    CHECK(info.block_size == bs);
    CHECK(info.image_size == m.size);
    passes[k].bytes = malloc(m.size ? m.size : 1);
    memcpy(passes[k].bytes, m.bytes, m.size);
    passes[k].size = m.size;
    passes[k].has_data = data_map(image, m.size, bs);
    strcpy(passes[k].change_id, info.change_id);
    passes[k].changed = calloc(blocks_of(m.size, bs) + 1, 1);
    for (uint64_t b = 0; b < blocks_of(m.size, bs); b++)
      passes[k].changed[b] = k == 0 || b >= blocks_of(passes[k - 1].size, bs) ||
                             !block_equal(&passes[k], &passes[k - 1], b, bs);
    /* Every earlier change ID: exactly the blocks changed in a later pass. */
    for (int since = 0; since <= k; since++) {
      vr_bt_extents ex;
      vr_bt_info now;
      uint64_t n = blocks_of(m.size, bs);
      unsigned char *got = calloc(n + 1, 1);
      uint64_t max_length = below(3) == 0 ? bs * (1 + below(4)) : 0;
      int exact = 1;
      CHECK(vr_bt_changed(image, NULL, passes[since].change_id, max_length, &ex, &now, err,
                          sizeof err) == VR_BT_OK);
      CHECK_STR(now.change_id, info.change_id);
      check_shape(&ex, m.size, max_length);
      CHECK(covered_blocks(&ex, bs, m.size, got));
      for (uint64_t b = 0; b < n; b++) {
        int want = 0;
        for (int j = since + 1; j <= k && !want; j++)
          want = b < blocks_of(passes[j].size, bs) && passes[j].changed[b];
        if (want != got[b]) exact = 0;
      }
      if (!exact)
        fprintf(stderr, "seed %" PRIu64 ": pass %d since %d: wrong blocks (block size %u)\n", seed,
                k, since, bs);
      CHECK(exact);
      free(ex.items);
      free(got);
    }
    /* "*": the blocks that held data at this pass. */
    {
      vr_bt_extents ex;
      vr_bt_info now;
      uint64_t n = blocks_of(m.size, bs);
      unsigned char *got = calloc(n + 1, 1);
      CHECK(vr_bt_changed(image, NULL, "*", 0, &ex, &now, err, sizeof err) == VR_BT_OK);
      check_shape(&ex, m.size, 0);
      covered_blocks(&ex, bs, m.size, got);
      CHECK(memcmp(got, passes[k].has_data, n) == 0);
      free(ex.items);
      free(got);
    }
  }
  for (int k = 0; k < PASSES; k++) {
    free(passes[k].bytes);
    free(passes[k].has_data);
    free(passes[k].changed);
  }
  free(m.bytes);
  close(fd);
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
  close(fd);
}

static char *read_whole(const char *path, size_t *len) {
  struct stat st;
  int fd = open(path, O_RDONLY);
  char *buf;
  if (fd < 0 || fstat(fd, &st) != 0) return NULL;
  buf = malloc((size_t)st.st_size + 1);
  *len = (size_t)read(fd, buf, (size_t)st.st_size);
  close(fd);
  return buf;
}

/* A fresh 1 MiB image with data in every other 64 KiB, tracked once; returns its change ID. */
static void fresh_tracked(char *id) {
  unsigned char buf[65536];
  vr_bt_info info;
  char err[1024];
  int fd;
  unlink(image);
  unlink(state);
  fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(ftruncate(fd, 1 << 20) == 0);
  for (int i = 0; i < 16; i += 2) {
    memset(buf, 'a' + i, sizeof buf);
    CHECK(pwrite(fd, buf, sizeof buf, (off_t)i * 65536) == (ssize_t)sizeof buf);
  }
  close(fd);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK(info.reset_reason[0] == '\0');
  CHECK(info.previous_id[0] == '\0');
  CHECK(info.blocks == 16 && info.data_blocks == 8 && info.changed_blocks == 16);
  strcpy(id, info.change_id);
}

static void change_block(int block, char byte) {
  unsigned char buf[100];
  int fd = open(image, O_WRONLY);
  memset(buf, byte, sizeof buf);
  CHECK(pwrite(fd, buf, sizeof buf, (off_t)block * 65536 + 5) == (ssize_t)sizeof buf);
  close(fd);
}

/* The blocks the extents since id cover, as a bit set; VR_BT_* status in *status. */
static unsigned changed_set(const char *id, vr_bt_status *status, char *err, size_t errlen) {
  vr_bt_extents ex;
  vr_bt_info info;
  unsigned set = 0;
  *status = vr_bt_changed(image, NULL, id, 0, &ex, &info, err, errlen);
  for (size_t i = 0; i < ex.count; i++)
    for (uint64_t b = ex.items[i].start / 65536; b * 65536 < ex.items[i].start + ex.items[i].length;
         b++)
      set |= 1u << b;
  free(ex.items);
  return set;
}

/* A pass that dies at each stage: the next answers are those of the old file or the new one,
 * never others, and the next full pass is exact. */
static void test_crash_stages(void) {
  for (int stage = 1; stage <= 3; stage++) {
    char id[VR_BT_CHANGE_ID_MAX], err[1024];
    vr_bt_status status;
    vr_bt_info info;
    int wstatus;
    pid_t pid;
    unsigned set;
    fresh_tracked(id);
    change_block(3, 'x');
    change_block(12, 'y');
    pid = fork();
    if (pid == 0) {
      vr_bt_info child_info;
      char child_err[256];
      vr_bt_test_exit_at = stage;
      vr_bt_track(image, NULL, &child_info, child_err, sizeof child_err);
      _exit(0); /* the hook did not fire */
    }
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 86);
    set = changed_set(id, &status, err, sizeof err);
    CHECK(status == VR_BT_OK);
    if (stage < 3)
      CHECK(set == 0); /* the old file: nothing after id yet */
    else
      CHECK(set == ((1u << 3) | (1u << 12))); /* the new file, renamed in place */
    change_block(7, 'z');
    CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
    CHECK(info.reset_reason[0] == '\0');
    set = changed_set(id, &status, err, sizeof err);
    CHECK(status == VR_BT_OK);
    CHECK(set == ((1u << 3) | (1u << 7) | (1u << 12)));
  }
}

static void test_damaged_files(void) {
  char id[VR_BT_CHANGE_ID_MAX], err[1024];
  vr_bt_status status;
  vr_bt_info info;
  size_t len;
  char *bytes;
  /* A flipped bit in a record: reset_required, then a new epoch. */
  fresh_tracked(id);
  bytes = read_whole(state, &len);
  CHECK(len == 128 + 16 * 16);
  bytes[128 + 16 * 5 + 3] ^= 4;
  write_file(state, bytes, len);
  changed_set(id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "checksum");
  CHECK_CONTAINS(err, state);
  changed_set("*", &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK_CONTAINS(info.reset_reason, "checksum");
  CHECK(strncmp(info.change_id, id, 36) != 0); /* a new epoch */
  CHECK_CONTAINS(info.change_id, "/1");
  CHECK(info.changed_blocks == 16);
  changed_set(id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "another tracking epoch");
  /* Cut short. */
  write_file(state, bytes, len - 7);
  changed_set(info.change_id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "cut short");
  /* Not a tracking file at all. */
  write_file(state, "ctkEnabled = \"TRUE\"\n", 20);
  changed_set(info.change_id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "not a vmrun tracking file");
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK_CONTAINS(info.reset_reason, "not a vmrun tracking file");
  free(bytes);
  /* A newer format: left alone, for both calls. */
  bytes = read_whole(state, &len);
  bytes[8] = 9;
  write_file(state, bytes, len);
  changed_set(info.change_id, &status, err, sizeof err);
  CHECK(status == VR_BT_INPUT);
  CHECK_CONTAINS(err, "format version 9");
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_INPUT);
  {
    size_t after_len;
    char *after = read_whole(state, &after_len);
    CHECK(after_len == len && memcmp(after, bytes, len) == 0);
    free(after);
  }
  free(bytes);
}

/* The image replaced by a copy (another inode): its tracking file is not trusted. */
static void test_replaced_image(void) {
  char id[VR_BT_CHANGE_ID_MAX], err[1024], copy[340];
  vr_bt_status status;
  vr_bt_info info;
  size_t len;
  char *bytes;
  fresh_tracked(id);
  bytes = read_whole(image, &len);
  snprintf(copy, sizeof copy, "%s.copy", image);
  write_file(copy, bytes, len);
  CHECK(rename(copy, image) == 0);
  changed_set(id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "made for another file");
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK_CONTAINS(info.reset_reason, "made for another file");
  free(bytes);
}

static void test_change_ids_and_options(void) {
  char id[VR_BT_CHANGE_ID_MAX], err[1024], newer[VR_BT_CHANGE_ID_MAX + 8];
  vr_bt_status status;
  vr_bt_info info;
  vr_bt_options opts = {0};
  unsigned set;
  int fd;
  fresh_tracked(id);
  CHECK(strlen(id) == 38 && id[14] == '4' && id[36] == '/' && id[37] == '1');
  changed_set("not-an-id", &status, err, sizeof err);
  CHECK(status == VR_BT_INPUT);
  CHECK_CONTAINS(err, "not a change ID");
  memcpy(newer, id, 37);
  strcpy(newer + 37, "0");
  changed_set(newer, &status, err, sizeof err);
  CHECK(status == VR_BT_INPUT);
  strcpy(newer + 37, "2");
  changed_set(newer, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  CHECK_CONTAINS(err, "newer than");
  strcpy(newer + 37, "1x");
  changed_set(newer, &status, err, sizeof err);
  CHECK(status == VR_BT_INPUT);
  /* Upper-case hex reads the same. */
  for (int i = 0; i < 36; i++) newer[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
  strcpy(newer + 36, "/1");
  set = changed_set(newer, &status, err, sizeof err);
  CHECK(status == VR_BT_OK && set == 0);
  /* The same content again: a new sequence, nothing changed. */
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK_STR(info.previous_id, id);
  CHECK(info.changed_blocks == 0);
  CHECK(strncmp(info.change_id, id, 37) == 0);        /* the same epoch ... */
  CHECK(strtoull(info.change_id + 37, NULL, 10) > 1); /* ... a later sequence */
  /* A block size other than the file's needs a reset. */
  opts.block_size = 4096;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "65536");
  opts.block_size = 5000;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "power of two");
  opts.block_size = 4096;
  opts.reset = 1;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_OK);
  CHECK(info.block_size == 4096 && info.blocks == 256);
  CHECK_CONTAINS(info.reset_reason, "reset was asked for");
  /* Another pass holds the lock. */
  fd = open(image, O_RDONLY);
  CHECK(flock(fd, LOCK_EX) == 0);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_CONFLICT);
  close(fd);
  /* A missing image, a missing tracking file. */
  unlink(state);
  changed_set(id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  changed_set("*", &status, err, sizeof err);
  CHECK(status == VR_BT_INPUT);
  CHECK_CONTAINS(err, "not tracked yet");
  unlink(image);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, image);
}

/* A tracking file restored from a backup (or rolled back) must not give out a change ID again:
 * the ID given after the restore differs from the one given before it, and asking for changes
 * since the lost ID gives reset_required or every block changed since the restored state. */
static void test_restored_file(void) {
  char id1[VR_BT_CHANGE_ID_MAX], id2[VR_BT_CHANGE_ID_MAX], err[1024];
  vr_bt_status status;
  vr_bt_info info;
  size_t len;
  char *saved;
  unsigned set;
  fresh_tracked(id1);
  saved = read_whole(state, &len);
  change_block(0, 'x');
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  strcpy(id2, info.change_id);
  write_file(state, saved, len); /* the restore */
  change_block(1, 'y');
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK(strcmp(info.change_id, id2) != 0);
  set = changed_set(id2, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED || (status == VR_BT_OK && set == 3u));
  free(saved);
}

/* What the review found: a leftover temporary file hard-linked to another file, FIFOs, a
 * symbolic link as the tracking file, a newer format overwritten only on request, a cancelled
 * pass. */
static void test_hostile_paths(void) {
  char id[VR_BT_CHANGE_ID_MAX], err[1024], tmp[340], victim[340], fifo[340], symlink_path[340];
  vr_bt_options opts = {0};
  vr_bt_status status;
  vr_bt_info info;
  volatile int cancel = 1;
  size_t len;
  char *bytes;
  fresh_tracked(id);
  snprintf(tmp, sizeof tmp, "%s.tmp", state);
  snprintf(victim, sizeof victim, "%s/victim", folder);
  write_file(victim, "precious", 8);
  CHECK(link(victim, tmp) == 0);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  bytes = read_whole(victim, &len);
  CHECK(len == 8 && memcmp(bytes, "precious", 8) == 0);
  free(bytes);
  unlink(victim);
  CHECK(access(tmp, F_OK) != 0);
  /* FIFOs are refused, not opened for ever. */
  snprintf(fifo, sizeof fifo, "%s/fifo", folder);
  CHECK(mkfifo(fifo, 0600) == 0);
  CHECK(vr_bt_track(fifo, NULL, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "not a regular file");
  opts.state_path = fifo;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "not a regular file");
  {
    vr_bt_extents ex;
    CHECK(vr_bt_changed(image, fifo, "*", 0, &ex, &info, err, sizeof err) == VR_BT_INPUT);
    CHECK_CONTAINS(err, "not a regular file");
    CHECK(info.error_in_state == 1);
  }
  unlink(fifo);
  /* A symbolic link as the tracking file: refused, the file it points to untouched. */
  snprintf(symlink_path, sizeof symlink_path, "%s/link", folder);
  CHECK(symlink(state, symlink_path) == 0);
  opts.state_path = symlink_path;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "symbolic link");
  CHECK(info.error_in_state == 1);
  unlink(symlink_path);
  /* A cancelled pass leaves the tracking file as it was. */
  bytes = read_whole(state, &len);
  change_block(5, 'c');
  opts.state_path = NULL;
  opts.cancel = &cancel;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_CANCELLED);
  {
    size_t after_len;
    char *after = read_whole(state, &after_len);
    CHECK(after_len == len && memcmp(after, bytes, len) == 0);
    free(after);
  }
  CHECK(access(tmp, F_OK) != 0);
  /* A newer format: refused, unless a reset is asked for. */
  bytes[8] = 2;
  write_file(state, bytes, len);
  opts.cancel = NULL;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_INPUT);
  CHECK_CONTAINS(err, "reset = true overwrites it");
  opts.reset = 1;
  CHECK(vr_bt_track(image, &opts, &info, err, sizeof err) == VR_BT_OK);
  CHECK_CONTAINS(info.reset_reason, "format version 2");
  changed_set(id, &status, err, sizeof err);
  CHECK(status == VR_BT_RESET_REQUIRED);
  free(bytes);
}

/* An empty image, and one whose size is not a multiple of the block size. */
static void test_edges(void) {
  char err[1024];
  vr_bt_info info;
  vr_bt_extents ex;
  int fd;
  unlink(state);
  fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0644);
  close(fd);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK(info.blocks == 0);
  CHECK(vr_bt_changed(image, NULL, "*", 0, &ex, &info, err, sizeof err) == VR_BT_OK);
  CHECK(ex.count == 0);
  free(ex.items);
  fd = open(image, O_RDWR);
  CHECK(pwrite(fd, "abc", 3, 70000) == 3);
  close(fd);
  CHECK(vr_bt_track(image, NULL, &info, err, sizeof err) == VR_BT_OK);
  CHECK(info.blocks == 2 && info.image_size == 70003);
  CHECK(vr_bt_changed(image, NULL, "*", 0, &ex, &info, err, sizeof err) == VR_BT_OK);
  CHECK(ex.count == 1 && ex.items[0].start == 65536 && ex.items[0].length == 70003 - 65536);
  free(ex.items);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  int seeds = getenv("BLOCKTRACK_SEEDS") ? atoi(getenv("BLOCKTRACK_SEEDS")) : 150;
  snprintf(folder, sizeof folder, "%s/vmrun-blocktrack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(folder) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(image, sizeof image, "%s/disk.img", folder);
  snprintf(state, sizeof state, "%s%s", image, VR_BT_SUFFIX);
  for (int seed = 1; seed <= seeds; seed++) property_run((uint64_t)seed);
  test_crash_stages();
  test_damaged_files();
  test_replaced_image();
  test_change_ids_and_options();
  test_restored_file();
  test_hostile_paths();
  test_edges();
  unlink(image);
  unlink(state);
  {
    char tmpfile[340];
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp", state);
    unlink(tmpfile);
  }
  rmdir(folder);
  return CHECK_DONE();
}

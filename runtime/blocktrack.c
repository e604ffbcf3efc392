/* blocktrack.c: the disk-image change tracker (see blocktrack.h for the contract).
 *
 * Tracking file, format 1 (all integers little-endian; docs/cbt.md has the same table):
 *   offset size
 *        0    8  magic "VMRUNCBT"
 *        8    4  format version, 1
 *       12    4  header size, 128
 *       16    4  block size in bytes: a power of two from 4 KiB to 64 MiB
 *       20    4  record size, 16
 *       24   16  epoch: a random (version 4) UUID, new whenever tracking starts over
 *       40    8  sequence of the current change ID (1 for the first pass of an epoch)
 *       48    8  image size in bytes at that pass
 *       56    8  block count: image size / block size, rounded up
 *       64    8  image device (st_dev), for information
 *       72    8  image inode (st_ino): a tracking file for another file is not trusted
 *       80    8  epoch start, seconds since 1970
 *       88    8  last pass, seconds since 1970
 *       96    8  seed of the block hashes: random, new with each epoch
 *      104   16  reserved, zero
 *      120    8  checksum: XXH3-64 (seed 0) of bytes 0-119 followed by every record
 *      128  16*N records, one per block, in order:
 *                u64 XXH3-64 with the seed of the block's bytes (a last, partial block padded
 *                    with zeros)
 *                u64 bits 0-62: the sequence in which the block last changed;
 *                    bit 63: the block held data (was not entirely a hole) at the last pass
 * A change ID is "<epoch UUID>/<sequence>". A block changed since sequence S when its stored
 * sequence is greater than S. Each pass adds a random step from 1 to SEQUENCE_STEP_MAX to the
 * sequence, so that a tracking file restored from a backup does not give out a change ID that
 * it gave out before. Every pass writes the whole file anew beside the old one (<file>.tmp,
 * created exclusively, synced) and renames it over the old one, then syncs the folder, holding
 * flock() on the image so that two passes never race. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include "blocktrack.h"
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h> /* XXH3 with AVX2 or AVX-512 where the CPU has them */
#endif

#define MAGIC             "VMRUNCBT"
#define FORMAT_VERSION    1u
#define HEADER_SIZE       128u
#define RECORD_SIZE       16u
#define CHECKSUM_OFFSET   120u
#define SEQ_MASK          (((uint64_t)1 << 63) - 1)
#define DATA_BIT          ((uint64_t)1 << 63)
#define MAX_SEQUENCE      ((uint64_t)1 << 62)
#define SEQUENCE_STEP_MAX ((uint64_t)1 << 20)
#define CHUNK_BYTES       ((size_t)256 << 10) /* image bytes per pread: stays in the L2 cache */
#define IO_BUFFER         ((size_t)1 << 20)   /* tracking-file bytes per read or write */

int vr_bt_test_exit_at = 0;

static void test_exit_at(int stage) {
  if (vr_bt_test_exit_at == stage) _exit(86);
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int is_power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

static uint64_t block_count(uint64_t size, uint32_t block_size) {
  return size / block_size + (size % block_size != 0);
}

int vr_bt_default_state_path(const char *image, char *buf, size_t buflen) {
  int n = snprintf(buf, buflen, "%s%s", image, VR_BT_SUFFIX);
  return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

static void format_change_id(char *out, const unsigned char uuid[16], uint64_t seq) {
  static const char hex[] = "0123456789abcdef";
  char *p = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[uuid[i] >> 4];
    *p++ = hex[uuid[i] & 15];
  }
  sprintf(p, "/%" PRIu64, seq);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses "UUID/sequence"; 0, or -1 when text is not one. */
static int parse_change_id(const char *text, unsigned char uuid[16], uint64_t *seq) {
  const char *p = text;
  int byte = 0;
  for (int i = 0; i < 36; i++, p++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (*p != '-') return -1;
      continue;
    }
    int hi = hex_value(*p), lo;
    if (hi < 0) return -1;
    p++, i++;
    if ((lo = hex_value(*p)) < 0) return -1;
    uuid[byte++] = (unsigned char)(hi << 4 | lo);
  }
  if (*p++ != '/' || *p < '0' || *p > '9') return -1;
  *seq = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (*seq > (UINT64_MAX - 9) / 10) return -1;
    *seq = *seq * 10 + (uint64_t)(*p - '0');
  }
  return *p == '\0' ? 0 : -1;
}

static int random_bytes(void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom((char *)buf + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  return 0;
}

static int new_uuid(unsigned char uuid[16]) {
  if (random_bytes(uuid, 16) != 0) return -1;
  uuid[6] = (unsigned char)((uuid[6] & 0x0f) | 0x40); /* version 4 */
  uuid[8] = (unsigned char)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  return 0;
}

/* Reads exactly len bytes at offset, or fewer at end of file; the count, or -1 (errno set). */
static ssize_t read_at(int fd, void *buf, size_t len, uint64_t offset) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* A tracking file's header, read and checked. */
typedef struct tracking_header {
  unsigned char raw[HEADER_SIZE];
  uint32_t version, block_size;
  unsigned char uuid[16];
  uint64_t sequence, image_size, blocks, image_ino, epoch_started, seed;
} tracking_header;

typedef enum header_verdict {
  HEADER_VALID,
  HEADER_MISSING, /* no tracking file */
  HEADER_INVALID, /* damaged, cut short, or for another file: start over */
  HEADER_NEWER,   /* a format this vmrun does not know: leave it alone */
  HEADER_IO,      /* cannot be read */
} header_verdict;

/* Opens state_path and checks its header against the image (inode) and its size; *fd_out is
 * the open file when the verdict is HEADER_VALID. Does not check the checksum. */
static header_verdict read_header(const char *state_path, uint64_t image_ino, tracking_header *h,
                                  int *fd_out, char *why, size_t whylen) {
  struct stat st;
  /* O_NONBLOCK: a FIFO at the path must not hang the run; O_NOFOLLOW: a pass renames over the
   * path, which would replace a symbolic link instead of the file it points to. */
  int fd = open(state_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  ssize_t n;
  *fd_out = -1;
  if (fd < 0) {
    if (errno == ENOENT) {
      fail(why, whylen, "%s does not exist", state_path);
      return HEADER_MISSING;
    }
    if (errno == ELOOP) {
      fail(why, whylen, "%s is a symbolic link: name the tracking file itself", state_path);
      return HEADER_IO;
    }
    fail(why, whylen, "%s: %s", state_path, strerror(errno));
    return HEADER_IO;
  }
  if (fstat(fd, &st) != 0) {
    fail(why, whylen, "%s: %s", state_path, strerror(errno));
    close(fd);
    return HEADER_IO;
  }
  if (!S_ISREG(st.st_mode)) { /* a folder, a FIFO, a device: not ours to read or replace */
    fail(why, whylen, "%s is not a regular file", state_path);
    close(fd);
    return HEADER_IO;
  }
  if ((n = read_at(fd, h->raw, HEADER_SIZE, 0)) < 0) {
    fail(why, whylen, "%s: %s", state_path, strerror(errno));
    close(fd);
    return HEADER_IO;
  }
#define INVALID(...)                                                                               \
  do {                                                                                             \
    fail(why, whylen, __VA_ARGS__);                                                                \
    close(fd);                                                                                     \
    return HEADER_INVALID;                                                                         \
  } while (0)
  if ((size_t)n < 8 || memcmp(h->raw, MAGIC, 8) != 0)
    INVALID("%s is not a vmrun tracking file (no VMRUNCBT magic)", state_path);
  if ((size_t)n < HEADER_SIZE) INVALID("%s is cut short inside its header", state_path);
  h->version = get_u32(h->raw + 8);
  if (h->version > FORMAT_VERSION) {
    fail(why, whylen, "%s has format version %" PRIu32 "; this vmrun reads version %u", state_path,
         h->version, FORMAT_VERSION);
    close(fd);
    return HEADER_NEWER;
  }
  h->block_size = get_u32(h->raw + 16);
  memcpy(h->uuid, h->raw + 24, 16);
  h->sequence = get_u64(h->raw + 40);
  h->image_size = get_u64(h->raw + 48);
  h->blocks = get_u64(h->raw + 56);
  h->image_ino = get_u64(h->raw + 72);
  h->epoch_started = get_u64(h->raw + 80);
  h->seed = get_u64(h->raw + 96);
  if (h->version != FORMAT_VERSION || get_u32(h->raw + 12) != HEADER_SIZE ||
      get_u32(h->raw + 20) != RECORD_SIZE)
    INVALID("%s has a damaged header (version or sizes)", state_path);
  if (!is_power_of_two(h->block_size) || h->block_size < VR_BT_MIN_BLOCK_SIZE ||
      h->block_size > VR_BT_MAX_BLOCK_SIZE)
    INVALID("%s has a damaged header (block size %" PRIu32 ")", state_path, h->block_size);
  if (h->sequence < 1 || h->sequence > MAX_SEQUENCE)
    INVALID("%s has a damaged header (sequence %" PRIu64 ")", state_path, h->sequence);
  if (h->blocks != block_count(h->image_size, h->block_size) ||
      h->blocks > ((uint64_t)st.st_size - HEADER_SIZE) / RECORD_SIZE ||
      (uint64_t)st.st_size != HEADER_SIZE + h->blocks * RECORD_SIZE)
    INVALID("%s is %" PRIu64 " bytes, not the %" PRIu64 " its header needs: cut short or damaged",
            state_path, (uint64_t)st.st_size, HEADER_SIZE + h->blocks * RECORD_SIZE);
  if (h->image_ino != image_ino)
    INVALID("%s was made for another file (inode %" PRIu64 ", the image's is %" PRIu64
            "): the image was replaced or copied, or the tracking file belongs to another one",
            state_path, h->image_ino, image_ino);
#undef INVALID
  *fd_out = fd;
  return HEADER_VALID;
}

/* Reads the tracking file's records in order, one buffer at a time, folding every byte into
 * the checksum. */
typedef struct record_reader {
  int fd;
  unsigned char *buf;
  size_t have, pos;
  uint64_t offset, left; /* next file offset to read, records not yet read from the file */
  XXH3_state_t *sum;
} record_reader;

static int reader_start(record_reader *r, int fd, const tracking_header *h) {
  r->fd = fd;
  r->have = r->pos = 0;
  r->offset = HEADER_SIZE;
  r->left = h->blocks;
  r->buf = malloc(IO_BUFFER);
  r->sum = XXH3_createState();
  if (r->buf == NULL || r->sum == NULL) return -1;
  XXH3_64bits_reset(r->sum);
  XXH3_64bits_update(r->sum, h->raw, CHECKSUM_OFFSET);
  return 0;
}

static void reader_end(record_reader *r) {
  free(r->buf);
  XXH3_freeState(r->sum);
  r->buf = NULL;
  r->sum = NULL;
}

/* The next record; 1, 0 at the end, -1 on a read error (errno set) or a file cut short. */
static int reader_next(record_reader *r, uint64_t *hash, uint64_t *state) {
  if (r->pos == r->have) {
    size_t want;
    ssize_t n;
    if (r->left == 0) return 0;
    want = r->left < IO_BUFFER / RECORD_SIZE ? (size_t)r->left * RECORD_SIZE : IO_BUFFER;
    if ((n = read_at(r->fd, r->buf, want, r->offset)) < 0) return -1;
    if ((size_t)n != want) {
      errno = EIO;
      return -1;
    }
    XXH3_64bits_update(r->sum, r->buf, want);
    r->offset += want;
    r->left -= want / RECORD_SIZE;
    r->have = want;
    r->pos = 0;
  }
  *hash = get_u64(r->buf + r->pos);
  *state = get_u64(r->buf + r->pos + 8);
  r->pos += RECORD_SIZE;
  return 1;
}

static int reader_checksum_ok(const record_reader *r, const tracking_header *h) {
  return XXH3_64bits_digest(r->sum) == get_u64(h->raw + CHECKSUM_OFFSET);
}

/* 1 when the whole file's checksum matches, 0 when not, -1 on a read error. */
static int verify_checksum(int fd, const tracking_header *h) {
  record_reader r;
  uint64_t hash, state;
  int rc;
  if (reader_start(&r, fd, h) != 0) {
    reader_end(&r);
    errno = ENOMEM;
    return -1;
  }
  /* Skip through the records a buffer at a time. */
  while ((rc = reader_next(&r, &hash, &state)) == 1) r.pos = r.have;
  if (rc == 0) rc = reader_checksum_ok(&r, h);
  reader_end(&r);
  return rc;
}

/* The new tracking file, written through a buffer that also feeds the checksum. */
typedef struct record_writer {
  int fd;
  unsigned char *buf;
  size_t used;
  XXH3_state_t *sum;
} record_writer;

static int writer_flush(record_writer *w) {
  if (w->used == 0) return 0;
  XXH3_64bits_update(w->sum, w->buf, w->used);
  if (vr_write_full(w->fd, w->buf, w->used) != 0) return -1;
  w->used = 0;
  return 0;
}

static int writer_put(record_writer *w, uint64_t hash, uint64_t state) {
  if (w->used + RECORD_SIZE > IO_BUFFER && writer_flush(w) != 0) return -1;
  put_u64(w->buf + w->used, hash);
  put_u64(w->buf + w->used + 8, state);
  w->used += RECORD_SIZE;
  return 0;
}

/* One tracking pass in progress. */
typedef struct pass {
  const char *image, *state_path;
  int image_fd;
  uint64_t size, blocks, sequence, half;
  uint32_t block_size;
  int new_epoch;
  record_reader old; /* the previous pass's records, when !new_epoch */
  uint64_t old_blocks;
  record_writer out;
  vr_bt_info *info;
  char *err;
  size_t errlen;
  vr_bt_status failure; /* what a failed scan_image ran into */
  uint64_t seed;        /* of the block hashes */
  const volatile int *cancel;
} pass;

/* Records block b (blocks arrive in order). */
static int record_block(pass *p, uint64_t b, uint64_t hash, int has_data) {
  uint64_t seq = p->sequence;
  if (!p->new_epoch && b < p->old_blocks) {
    uint64_t old_hash, old_state;
    int rc = reader_next(&p->old, &old_hash, &old_state);
    if (rc != 1) {
      fail(p->err, p->errlen, "%s: %s", p->state_path,
           rc < 0 ? strerror(errno) : "fewer records than its header says");
      p->failure = VR_BT_INPUT;
      p->info->error_in_state = 1;
      return -1;
    }
    if (old_hash == hash) seq = old_state & SEQ_MASK;
  }
  if (seq == p->sequence) p->info->changed_blocks++;
  if (has_data) p->info->data_blocks++;
  if (writer_put(&p->out, hash, seq | (has_data ? DATA_BIT : 0)) != 0) {
    fail(p->err, p->errlen, "%s.tmp: %s", p->state_path, strerror(errno));
    p->failure = VR_BT_IO;
    p->info->error_in_state = 1;
    return -1;
  }
  if (b + 1 == p->half && vr_bt_test_exit_at == 1) {
    (void)writer_flush(&p->out);
    test_exit_at(1);
  }
  return 0;
}

/* Hashes every block of the image into the new tracking file: holes by SEEK_DATA/SEEK_HOLE
 * without reading them, data a chunk at a time. */
static int scan_image(pass *p) {
  const uint32_t bs = p->block_size;
  const size_t chunk_len = CHUNK_BYTES > bs ? CHUNK_BYTES : bs;
  unsigned char *chunk = malloc(chunk_len);
  uint64_t zero_hash, b = 0;
  int can_seek = 1, rc = -1;
  if (chunk == NULL) {
    fail(p->err, p->errlen, "out of memory");
    p->failure = VR_BT_MEMORY;
    return -1;
  }
  memset(chunk, 0, bs);
  zero_hash = XXH3_64bits_withSeed(chunk, bs, p->seed);
  while (b < p->blocks) {
    const uint64_t offset = b * bs;
    if (p->cancel != NULL && *p->cancel) {
      fail(p->err, p->errlen, "%s: the tracking pass was cancelled", p->image);
      p->failure = VR_BT_CANCELLED;
      goto out;
    }
    uint64_t run_end = p->blocks;
    int has_data = 1;
    if (can_seek) {
      off_t data = lseek(p->image_fd, (off_t)offset, SEEK_DATA);
      if (data < 0 && errno == ENXIO) {
        has_data = 0; /* nothing but hole from here on */
      } else if (data < 0) {
        can_seek = 0; /* a file system without SEEK_DATA: read everything */
      } else if ((uint64_t)data >= offset + bs) {
        has_data = 0;
        if ((uint64_t)data / bs < run_end) run_end = (uint64_t)data / bs;
      } else {
        off_t hole = lseek(p->image_fd, data, SEEK_HOLE);
        uint64_t end_block = hole < 0 ? p->blocks : block_count((uint64_t)hole, bs);
        if (end_block < run_end) run_end = end_block;
        if (run_end <= b) run_end = b + 1;
      }
    }
    if (!has_data) {
      for (uint64_t stop = b + (run_end - b < 65536 ? run_end - b : 65536); b < stop; b++)
        if (record_block(p, b, zero_hash, 0) != 0) goto out;
      continue; /* at most 65536 hole blocks between two looks at *cancel */
    }
    while (b < run_end) {
      if (p->cancel != NULL && *p->cancel) break;
      uint64_t n = run_end - b, want, readable;
      ssize_t got;
      if (n > chunk_len / bs) n = chunk_len / bs;
      want = n * bs;
      readable = p->size > b * bs ? p->size - b * bs : 0;
      if (readable > want) readable = want;
      if ((got = read_at(p->image_fd, chunk, (size_t)readable, b * bs)) < 0) {
        fail(p->err, p->errlen, "%s: read at byte %" PRIu64 ": %s", p->image, b * bs,
             strerror(errno));
        p->failure = VR_BT_INPUT;
        goto out;
      }
      /* Past the end of the file (a last partial block, or a file cut short meanwhile): zeros. */
      memset(chunk + got, 0, (size_t)(want - (uint64_t)got));
      p->info->bytes_read += (uint64_t)got;
      for (uint64_t i = 0; i < n; i++, b++)
        if (record_block(p, b, XXH3_64bits_withSeed(chunk + i * bs, bs, p->seed), 1) != 0) goto out;
    }
  }
  rc = 0;
out:
  free(chunk);
  return rc;
}

static vr_bt_status check_block_size(uint32_t block_size, char *err, size_t errlen) {
  if (!is_power_of_two(block_size) || block_size < VR_BT_MIN_BLOCK_SIZE ||
      block_size > VR_BT_MAX_BLOCK_SIZE) {
    fail(err, errlen,
         "block size %" PRIu32 " is not a power of two from %" PRIu32 " to %" PRIu32 " bytes",
         block_size, VR_BT_MIN_BLOCK_SIZE, VR_BT_MAX_BLOCK_SIZE);
    return VR_BT_INPUT;
  }
  return VR_BT_OK;
}

/* Writes the new tracking file at state_path.tmp, syncs it, renames it over state_path. */
static vr_bt_status write_pass(pass *p, const struct stat *image_st, const unsigned char uuid[16],
                               uint64_t epoch_started) {
  char tmp[PATH_MAX];
  unsigned char header[HEADER_SIZE];
  vr_bt_status status = VR_BT_IO;
  int fd;
  if (snprintf(tmp, sizeof tmp, "%s.tmp", p->state_path) >= (int)sizeof tmp) {
    fail(p->err, p->errlen, "%s: path too long", p->state_path);
    return VR_BT_INPUT;
  }
  /* A leftover of a pass that crashed goes first: opening it again could write through a hard
   * link into another file. The new file is ours, readable as the image is, writable by us. */
  p->info->error_in_state = 1; /* until the scan, every failure here is about the tracking file */
  if (unlink(tmp) != 0 && errno != ENOENT) {
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    return VR_BT_IO;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, image_st->st_mode & 0644);
  if (fd < 0) {
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    return VR_BT_IO;
  }
  memset(header, 0, sizeof header);
  memcpy(header, MAGIC, 8);
  put_u32(header + 8, FORMAT_VERSION);
  put_u32(header + 12, HEADER_SIZE);
  put_u32(header + 16, p->block_size);
  put_u32(header + 20, RECORD_SIZE);
  memcpy(header + 24, uuid, 16);
  put_u64(header + 40, p->sequence);
  put_u64(header + 48, p->size);
  put_u64(header + 56, p->blocks);
  put_u64(header + 64, (uint64_t)image_st->st_dev);
  put_u64(header + 72, (uint64_t)image_st->st_ino);
  put_u64(header + 80, epoch_started);
  put_u64(header + 88, (uint64_t)time(NULL));
  put_u64(header + 96, p->seed);
  p->out.fd = fd;
  p->out.used = 0;
  p->out.buf = malloc(IO_BUFFER);
  p->out.sum = XXH3_createState();
  if (p->out.buf == NULL || p->out.sum == NULL) {
    fail(p->err, p->errlen, "out of memory");
    status = VR_BT_MEMORY;
    goto out;
  }
  XXH3_64bits_reset(p->out.sum);
  XXH3_64bits_update(p->out.sum, header, CHECKSUM_OFFSET);
  if (vr_write_full(fd, header, HEADER_SIZE) != 0) {
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  p->info->error_in_state = 0;
  if (scan_image(p) != 0) {
    status = p->failure;
    goto out;
  }
  p->info->error_in_state = 1;
  if (writer_flush(&p->out) != 0) {
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  put_u64(header + CHECKSUM_OFFSET, XXH3_64bits_digest(p->out.sum));
  if (pwrite(fd, header, HEADER_SIZE, 0) != (ssize_t)HEADER_SIZE || fsync(fd) != 0) {
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    fail(p->err, p->errlen, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  test_exit_at(2);
  if (rename(tmp, p->state_path) != 0) {
    fail(p->err, p->errlen, "renaming %s to %s: %s", tmp, p->state_path, strerror(errno));
    goto out;
  }
  test_exit_at(3);
  /* Until the folder is synced the rename may not survive a power loss, and the change ID of
   * this pass must not be given out if a later pass could give it out again. */
  if (vr_sync_parent_folder(p->state_path) != 0) {
    fail(p->err, p->errlen, "syncing the folder of %s: %s", p->state_path, strerror(errno));
    goto out;
  }
  p->info->error_in_state = 0;
  status = VR_BT_OK;
out:
  if (fd >= 0) close(fd);
  if (status != VR_BT_OK) unlink(tmp);
  free(p->out.buf);
  XXH3_freeState(p->out.sum);
  p->out.buf = NULL;
  p->out.sum = NULL;
  return status;
}

vr_bt_status vr_bt_track(const char *image, const vr_bt_options *opts, vr_bt_info *info, char *err,
                         size_t errlen) {
  static const vr_bt_options no_options;
  char default_path[PATH_MAX];
  tracking_header old;
  struct stat st;
  pass p;
  unsigned char uuid[16];
  uint64_t epoch_started = 0, step = 0;
  int state_fd = -1, reading_old = 0;
  header_verdict verdict;
  vr_bt_status status;
  if (opts == NULL) opts = &no_options;
  memset(info, 0, sizeof *info);
  memset(&p, 0, sizeof p);
  err[0] = '\0';
  p.state_path = opts->state_path;
  if (p.state_path == NULL) {
    if (vr_bt_default_state_path(image, default_path, sizeof default_path) != 0) {
      fail(err, errlen, "%s: path too long", image);
      return VR_BT_INPUT;
    }
    p.state_path = default_path;
  }
  if (opts->block_size != 0 &&
      (status = check_block_size(opts->block_size, err, errlen)) != VR_BT_OK)
    return status;
  p.image = image;
  p.info = info;
  p.err = err;
  p.errlen = errlen;
  p.cancel = opts->cancel;
  /* O_NONBLOCK: opening a FIFO must not hang the run (it is refused below). */
  p.image_fd = open(image, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (p.image_fd < 0) {
    fail(err, errlen, "%s: %s", image, strerror(errno));
    return VR_BT_INPUT;
  }
  status = VR_BT_INPUT;
  if (fstat(p.image_fd, &st) != 0) {
    fail(err, errlen, "%s: %s", image, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(err, errlen, "%s: not a regular file", image);
    goto out;
  }
  if (flock(p.image_fd, LOCK_EX | LOCK_NB) != 0) {
    const int busy = errno == EWOULDBLOCK;
    fail(err, errlen, "%s: %s", image,
         busy ? "another change-tracking pass holds its lock" : strerror(errno));
    status = busy ? VR_BT_CONFLICT : VR_BT_INPUT;
    goto out;
  }
  verdict = read_header(p.state_path, (uint64_t)st.st_ino, &old, &state_fd, info->reset_reason,
                        sizeof info->reset_reason);
  if (verdict == HEADER_IO || (verdict == HEADER_NEWER && !opts->reset)) {
    fail(err, errlen, "%s%s", info->reset_reason,
         verdict == HEADER_NEWER ? " (reset = true overwrites it)" : "");
    info->error_in_state = 1;
    goto out;
  }
  if (verdict == HEADER_VALID) {
    int ok = verify_checksum(state_fd, &old);
    if (ok < 0) {
      fail(err, errlen, "%s: %s", p.state_path, strerror(errno));
      info->error_in_state = 1;
      goto out;
    }
    if (!ok) {
      fail(info->reset_reason, sizeof info->reset_reason,
           "%s fails its checksum: damaged, or written only in part", p.state_path);
      verdict = HEADER_INVALID;
    }
  }
  p.block_size = opts->block_size != 0     ? opts->block_size
                 : verdict == HEADER_VALID ? old.block_size
                                           : VR_BT_DEFAULT_BLOCK_SIZE;
  p.new_epoch = verdict != HEADER_VALID;
  if (verdict == HEADER_MISSING) info->reset_reason[0] = '\0'; /* a first pass, not a reset */
  if (!p.new_epoch && opts->reset) {
    fail(info->reset_reason, sizeof info->reset_reason, "a reset was asked for");
    p.new_epoch = 1;
  } else if (!p.new_epoch && p.block_size != old.block_size) {
    fail(err, errlen,
         "%s tracks blocks of %" PRIu32 " bytes, not %" PRIu32
         ": a new block size starts tracking over (reset = true)",
         p.state_path, old.block_size, p.block_size);
    info->error_in_state = 1;
    goto out;
  }
  if (random_bytes(&step, sizeof step) != 0) goto no_random;
  step = 1 + step % SEQUENCE_STEP_MAX;
  if (!p.new_epoch && old.sequence > MAX_SEQUENCE - step) {
    fail(info->reset_reason, sizeof info->reset_reason, "%s: the sequence reached its limit",
         p.state_path);
    p.new_epoch = 1;
  }
  p.size = (uint64_t)st.st_size;
  p.blocks = block_count(p.size, p.block_size);
  p.half = p.blocks / 2;
  if (p.new_epoch) {
    if (new_uuid(uuid) != 0 || random_bytes(&p.seed, sizeof p.seed) != 0) goto no_random;
    p.sequence = 1;
    epoch_started = (uint64_t)time(NULL);
  } else {
    memcpy(uuid, old.uuid, 16);
    p.seed = old.seed;
    p.sequence = old.sequence + step;
    epoch_started = old.epoch_started;
    p.old_blocks = old.blocks;
    format_change_id(info->previous_id, old.uuid, old.sequence);
    reading_old = 1;
    if (reader_start(&p.old, state_fd, &old) != 0) {
      fail(err, errlen, "out of memory");
      status = VR_BT_MEMORY;
      goto out;
    }
  }
  status = write_pass(&p, &st, uuid, epoch_started);
  if (status == VR_BT_OK) {
    format_change_id(info->change_id, uuid, p.sequence);
    info->image_size = p.size;
    info->blocks = p.blocks;
    info->block_size = p.block_size;
  }
  goto out;
no_random:
  fail(err, errlen, "no random bytes: %s", strerror(errno));
  status = VR_BT_IO;
out:
  if (reading_old) reader_end(&p.old);
  if (state_fd >= 0) close(state_fd);
  close(p.image_fd); /* releases the lock */
  return status;
}

static int extents_add(vr_bt_extents *out, uint64_t start, uint64_t end, uint64_t max_length) {
  while (start < end) {
    vr_bt_extent *last = out->count > 0 ? &out->items[out->count - 1] : NULL;
    uint64_t take = end - start;
    if (last != NULL && last->start + last->length == start &&
        (max_length == 0 || last->length < max_length)) {
      if (max_length != 0 && take > max_length - last->length) take = max_length - last->length;
      last->length += take;
    } else {
      if (out->count == out->capacity) {
        size_t cap = out->capacity ? out->capacity * 2 : 64;
        vr_bt_extent *items = realloc(out->items, cap * sizeof *items);
        if (items == NULL) return -1;
        out->items = items;
        out->capacity = cap;
      }
      if (max_length != 0 && take > max_length) take = max_length;
      out->items[out->count].start = start;
      out->items[out->count].length = take;
      out->count++;
    }
    out->total_bytes += take;
    start += take;
  }
  return 0;
}

static void extents_clear(vr_bt_extents *out) {
  free(out->items);
  memset(out, 0, sizeof *out);
}

vr_bt_status vr_bt_changed(const char *image, const char *state_path, const char *since,
                           uint64_t max_length, vr_bt_extents *out, vr_bt_info *info, char *err,
                           size_t errlen) {
  char default_path[PATH_MAX], why[512];
  tracking_header h;
  struct stat st;
  record_reader r;
  unsigned char since_uuid[16];
  uint64_t since_seq = 0, hash, state;
  const int all_data = strcmp(since, "*") == 0;
  int fd, rc;
  header_verdict verdict;
  memset(out, 0, sizeof *out);
  memset(info, 0, sizeof *info);
  err[0] = '\0';
  if (!all_data && parse_change_id(since, since_uuid, &since_seq) != 0) {
    fail(err, errlen, "\"%.80s\" is not a change ID (\"UUID/sequence\", or \"*\")", since);
    return VR_BT_INPUT;
  }
  if (!all_data && since_seq < 1) {
    fail(err, errlen, "change ID %s: sequences start at 1", since);
    return VR_BT_INPUT;
  }
  if (state_path == NULL) {
    if (vr_bt_default_state_path(image, default_path, sizeof default_path) != 0) {
      fail(err, errlen, "%s: path too long", image);
      return VR_BT_INPUT;
    }
    state_path = default_path;
  }
  if (stat(image, &st) != 0) {
    fail(err, errlen, "%s: %s", image, strerror(errno));
    return VR_BT_INPUT;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(err, errlen, "%s: not a regular file", image);
    return VR_BT_INPUT;
  }
  verdict = read_header(state_path, (uint64_t)st.st_ino, &h, &fd, why, sizeof why);
  info->error_in_state = 1; /* from here on, every failure concerns the tracking file */
  if (verdict == HEADER_NEWER || verdict == HEADER_IO || (verdict == HEADER_MISSING && all_data)) {
    fail(err, errlen, "%s%s", why,
         verdict == HEADER_MISSING ? ": the image is not tracked yet (cbt.track makes the file)"
                                   : "");
    return VR_BT_INPUT;
  }
  if (verdict != HEADER_VALID) {
    fail(err, errlen, "%s: tracking starts over, copy the whole image", why);
    return VR_BT_RESET_REQUIRED;
  }
  format_change_id(info->change_id, h.uuid, h.sequence);
  info->image_size = h.image_size;
  info->blocks = h.blocks;
  info->block_size = h.block_size;
  if (!all_data && (memcmp(since_uuid, h.uuid, 16) != 0 || since_seq > h.sequence)) {
    const int other_epoch = memcmp(since_uuid, h.uuid, 16) != 0;
    fail(err, errlen, "change ID %s is %s %s (now %s): %s, copy the whole image", since,
         other_epoch ? "from another tracking epoch than" : "newer than", state_path,
         info->change_id,
         other_epoch ? "tracking started over" : "the tracking file was restored or rolled back");
    close(fd);
    return VR_BT_RESET_REQUIRED;
  }
  if (reader_start(&r, fd, &h) != 0) {
    reader_end(&r);
    close(fd);
    fail(err, errlen, "out of memory");
    return VR_BT_MEMORY;
  }
  for (uint64_t b = 0; (rc = reader_next(&r, &hash, &state)) == 1; b++) {
    int wanted = all_data ? (state & DATA_BIT) != 0 : (state & SEQ_MASK) > since_seq;
    if (!wanted) continue;
    uint64_t start = b * h.block_size, end = start + h.block_size;
    if (end > h.image_size) end = h.image_size;
    if (extents_add(out, start, end, max_length) != 0) {
      rc = -2;
      break;
    }
  }
  if (rc == 0 && !reader_checksum_ok(&r, &h)) rc = -3;
  reader_end(&r);
  close(fd);
  if (rc == 0) return VR_BT_OK;
  extents_clear(out);
  if (rc == -2) {
    fail(err, errlen, "out of memory");
    return VR_BT_MEMORY;
  }
  if (rc == -3) {
    fail(err, errlen,
         "%s fails its checksum (damaged, or written only in part): tracking starts over, copy "
         "the whole image",
         state_path);
    return VR_BT_RESET_REQUIRED;
  }
  fail(err, errlen, "%s: %s", state_path, strerror(errno));
  return VR_BT_INPUT;
}

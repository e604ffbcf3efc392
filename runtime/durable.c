/* durable.c: see durable.h. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int vr_write_full(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int vr_sync_parent_folder(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 1 : (size_t)(slash - path);
  int fd, rc, saved;
  if (slash == NULL) {
    strcpy(dir, ".");
  } else {
    if (n == 0) n = 1; /* "/file": the root folder */
    if (n >= sizeof dir) {
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return -1;
  rc = fsync(fd);
  saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* durable.h: helpers for writing files that must survive a crash: a write that finishes or
 * fails, and the fsync of the folder that holds a renamed file. Plain POSIX; no Lua, no global
 * state. Callers own every descriptor they pass. */
#ifndef VMRUN_DURABLE_H
#define VMRUN_DURABLE_H

#include <stddef.h>

/* Writes all len bytes to fd (retrying short writes and EINTR); 0, or -1 with errno set. */
int vr_write_full(int fd, const void *buf, size_t len);

/* fsyncs the folder that holds path (".", when path has no slash), so that a rename or a new
 * file in it survives a crash; 0, or -1 with errno set. */
int vr_sync_parent_folder(const char *path);

#endif

/* journal.h: the files of a run's journal (docs/journal.md): one JSON object a line, appended and
 * fsync'd record by record, under STATE_DIR/runs/RUN_ID.jsonl, and an index of the runs
 * (RUN_ID TAB journal path, a line each) so that `vmrun resume` finds a journal from anywhere.
 * Plain POSIX and cJSON: reading, appending, finding a run; what a record means is the Lua
 * layer's (stdlib-lua/vmrun/journal.lua). No Lua, no global state. */
#ifndef VMRUN_JOURNAL_H
#define VMRUN_JOURNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define VR_RUN_ID_MAX 48

/* A new run id: the UTC time and 8 random hex digits ("20261127T083012Z-3fa29c01"). */
void vr_run_id_new(char id[VR_RUN_ID_MAX]);
/* 1 when text has a run id's shape (letters, digits, '-', '_', 1 to 47 of them). */
int vr_run_id_valid(const char *text);

/* The index of runs: $VMRUN_RUN_INDEX, else $XDG_STATE_HOME/vmrun/runs.tsv, else
 * ~/.local/state/vmrun/runs.tsv. 0, or -1 when there is no home to put it in. */
int vr_run_index_path(char *buf, size_t len);
/* Appends "id TAB path" to the index (creating its folders); 0, or -1 with errno set. */
int vr_run_index_add(const char *id, const char *journal_path);

/* Creates the folders of path (not its last component), mode 0700; 0, or -1 with errno set. */
int vr_make_parent_folders(const char *path);

/* A journal read whole. Lines are the complete ones (ending in '\n'), without it; a last line
 * cut by a crash (no '\n') is left out and counted in partial; valid_len is the length of the
 * complete lines, where an append must start. */
typedef struct vr_journal_lines {
  char **lines;
  size_t n;
  size_t valid_len;
  int partial; /* 1 when the file ended in a partial line */
} vr_journal_lines;
/* 0, or -1 with errno set (ENOENT: no such journal). */
int vr_journal_read(const char *path, vr_journal_lines *out);
void vr_journal_lines_free(vr_journal_lines *j);

/* What `vmrun resume` needs of a journal: its path, its first record (the "run" record, owned)
 * and whether its last record says the run ended ("end", with status "done"). */
typedef struct vr_journal_found {
  char path[4096];
  char id[VR_RUN_ID_MAX];
  cJSON *header;
  int finished;
} vr_journal_found;
/* Finds run_id (NULL: the newest run not finished) in state_dir/runs (state_dir may be NULL),
 * else through the index. 0; or -1 with why in err: not found, unreadable, not a journal
 * (file:line). */
int vr_journal_find(const char *state_dir, const char *run_id, vr_journal_found *out, char *err,
                    size_t errlen);

/* How the journal at path ended: 1 with the status of its "end" record when that is its last
 * record that parses; 0 when its last record is no end (the run was cut short, or runs); -1 when
 * it cannot be read (errno: ENOENT, there is none). */
int vr_journal_end_status(const char *path, char *status, size_t len);
/* The process a journal's run last ran as: the pid and host of its newest "run" or "resumed"
 * record; 0 (host "") when none says or the journal cannot be read. */
int vr_journal_run_process(const char *path, char *host, size_t hlen);
/* 1 when pid is a live vmrun process of this host other than this one (see journal.c). */
int vr_vmrun_alive(int pid);

#endif

/* codec.h: the JSON and YAML codecs between text, Lua values and cJSON trees.
 *
 * Lua shapes (see luaval.h): null is the null sentinel, objects and arrays are tables tagged with
 * their shape, integral numbers that fit int64 are Lua integers, other numbers are floats,
 * strings are kept byte for byte (resourceVersion stays a string).
 * Decoders and encoders return 1 with exactly one value pushed, or 0 with nothing pushed and
 * *err filled (err may be NULL); they never raise except Lua memory errors. Encoders detect
 * cycles, cap depth (VR_CODEC_MAX_DEPTH) and refuse mixed or sparse tables, naming the offending
 * path ("$.spec.items[3]", 1-based like Lua); JSON refuses NaN and infinities, YAML writes them
 * as .nan and .inf. YAML output is always block style (opts->pretty is ignored). */
#ifndef VMRUN_CODEC_H
#define VMRUN_CODEC_H

#include <cjson/cJSON.h>
#include <lua.h>
#include <stddef.h>

#define VR_CODEC_MAX_DEPTH 1000

typedef struct vr_codec_error {
  char message[256]; /* what is wrong, without position */
  int line;          /* 1-based; 0 when not about a position in text */
  int column;        /* 1-based; 0 when unknown */
} vr_codec_error;

typedef struct vr_encode_opts {
  int pretty;    /* multi-line output */
  int indent;    /* spaces per level when pretty (default 2) */
  int sort_keys; /* object keys in byte order (deterministic output); default on */
} vr_encode_opts;

/* --- JSON (runtime/json.c) --- */
int vr_json_decode(lua_State *L, const char *text, size_t len, vr_codec_error *err);
int vr_json_encode(lua_State *L, int idx, const vr_encode_opts *opts, vr_codec_error *err);
/* cJSON bridges, for C code (simulator, REST client) that keeps objects as cJSON trees. */
void vr_json_push_cjson(lua_State *L, const cJSON *item);
cJSON *vr_json_to_cjson(lua_State *L, int idx, vr_codec_error *err);

/* --- YAML (runtime/yaml.c) --- */
/* all_documents = 0: the stream must hold at most one document (none gives null);
 * all_documents = 1: pushes an array of every non-empty document. */
int vr_yaml_decode(lua_State *L, const char *text, size_t len, int all_documents,
                   vr_codec_error *err);
int vr_yaml_encode(lua_State *L, int idx, const vr_encode_opts *opts, vr_codec_error *err);
/* A YAML stream as a cJSON array of its non-empty documents; *doc_lines (malloc'd, caller frees,
 * may be NULL) receives the 1-based line where each document starts. NULL on error. */
cJSON *vr_yaml_to_cjson(const char *text, size_t len, int **doc_lines, vr_codec_error *err);
/* Streams of at least this many bytes (4 MiB; tests lower it) are parsed in two halves at once,
 * split at a document start near the middle, with the same documents, lines and errors as one
 * parse gives. */
extern size_t vr_yaml_split_min_bytes;
/* Streams parsed in two halves so far, whether or not the halves' result was kept. */
size_t vr_yaml_halves_parsed(void);

int luaopen_vmrun_json(lua_State *L);
int luaopen_vmrun_yaml(lua_State *L);

#endif

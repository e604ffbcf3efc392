/* luaval.h: value conventions shared by every codec and binding.
 *
 *  - null: one unique userdata (json.null == yaml.null == vmrun.null) standing for JSON/YAML null,
 *    so that keys with null values do not disappear and arrays keep their length.
 *  - shape tags: decoded tables carry a metatable saying whether they were an object or an array,
 *    so that an empty object and an empty array round-trip unchanged; json.object()/json.array()
 *    set the same tags on tables built by scripts.
 *  - file reading for codecs (whole file, with a message naming the file on failure).
 * Nothing here raises except Lua memory errors. */
#ifndef VMRUN_LUAVAL_H
#define VMRUN_LUAVAL_H

#include <lua.h>
#include <stddef.h>

typedef enum { VR_SHAPE_NONE = 0, VR_SHAPE_OBJECT = 1, VR_SHAPE_ARRAY = 2 } vr_shape;

void vr_null_push(lua_State *L);
int vr_null_is(lua_State *L, int idx);

/* Push the shared metatable that tags a table as an object / an array. */
void vr_shape_push_mt(lua_State *L, vr_shape shape);
/* Sets the tag on the table at idx (replacing any metatable). */
void vr_shape_set(lua_State *L, int idx, vr_shape shape);
/* The tag of the table at idx (VR_SHAPE_NONE for untagged tables and non-tables). */
vr_shape vr_shape_get(lua_State *L, int idx);

/* Pushes a new zero-filled userdata of `size` bytes whose metatable (created once, cached in the
 * registry under the address `key`) has `gc` as __gc: the owner of C memory that must be freed
 * even when a Lua error unwinds past it. May raise memory errors. */
void *vr_push_gc_userdata(lua_State *L, size_t size, const void *key, lua_CFunction gc);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees). On failure returns
 * NULL and writes "PATH: reason" into err. */
char *vr_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Position of the byte at offset `off` in text as 1-based line and column. */
void vr_text_position(const char *text, size_t off, int *line, int *column);

#endif

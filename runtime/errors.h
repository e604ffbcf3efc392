/* errors.h: vmrun.Error, the structured error object raised to Lua code.
 *
 * A vmrun.Error is a Lua table with the metatable VR_ERROR_MT and the fields
 *   kind      string: "usage", "input", "decode", "timeout", "cancelled", "runtime", "exec",
 *             "memory", "exit", ... (scripts branch on kind, never on message text)
 *   message   string: one line, prefixed with file:line of the Lua caller where one exists
 *   status    integer (optional): HTTP status or exit status
 *   resource  string (optional): the object or file concerned
 *   traceback string (optional): filled in by the scheduler when the error leaves a task
 * These functions may raise only Lua memory errors; vr_error_raise always raises. */
#ifndef VMRUN_ERRORS_H
#define VMRUN_ERRORS_H

#include <lua.h>
#include <stdarg.h>

#define VR_ERROR_MT "vmrun.Error"

/* Pushes a new vmrun.Error {kind=kind, message=<formatted>} without a location prefix. */
void vr_error_push(lua_State *L, const char *kind, const char *fmt, ...);
void vr_error_pushv(lua_State *L, const char *kind, const char *fmt, va_list ap);

/* Raises a vmrun.Error whose message starts with the Lua caller's "file:line: " (level 1). */
int vr_error_raise(lua_State *L, const char *kind, const char *fmt, ...);

/* The same with C's printf formats (%zu, PRId64, ...; the message is cut at 1 KiB) and, when
 * resource is not NULL, the field resource. */
int vr_error_raise_for(lua_State *L, const char *kind, const char *resource, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets a string/integer field on the error table at the top of the stack. */
void vr_error_set_string(lua_State *L, const char *field, const char *value);
void vr_error_set_integer(lua_State *L, const char *field, lua_Integer value);

/* 1 if the value at idx is a vmrun.Error table. */
int vr_error_is(lua_State *L, int idx);

/* Returns the kind of the vmrun.Error at idx, or NULL when idx is not one. The string lives as long
 * as the error table. */
const char *vr_error_kind(lua_State *L, int idx);

/* Creates the vmrun.Error metatable (with __tostring) if it does not exist yet. */
void vr_error_init(lua_State *L);

#endif

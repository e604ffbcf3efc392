/* test_json.c: unit tests of the JSON codec (runtime/json.c) and the vmrun.json module
 * (bindings/json.c): decoding shapes and numbers, error positions, encoder checks and output, the
 * cJSON bridges, stack hygiene after failures, and memory errors at every allocation. */
#include "check.h"
#include "json_pool.h"
#include "codec.h"
#include "errors.h"
#include "luaval.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

/* Runs a Lua chunk (named "t"); reports its error and returns 0 on failure. */
static int run(lua_State *L, const char *code) {
  int top = lua_gettop(L);
  if (luaL_loadbuffer(L, code, strlen(code), "=t") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "lua error: %s\n", luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return 0;
  }
  lua_settop(L, top);
  return 1;
}

#define CHECK_LUA(L, code) CHECK(run(L, code))

/* Decodes text (with length len) expecting failure with exactly msg at line:column. */
static int decode_fails(lua_State *L, const char *text, size_t len, const char *msg, int line,
                        int column) {
  vr_codec_error err;
  int top = lua_gettop(L), ok;
  if (vr_json_decode(L, text, len, &err)) {
    fprintf(stderr, "decode of '%s' succeeded, expected '%s'\n", text, msg);
    lua_settop(L, top);
    return 0;
  }
  ok = strcmp(err.message, msg) == 0 && err.line == line && err.column == column &&
       lua_gettop(L) == top;
  if (!ok) {
    fprintf(stderr, "decode of '%s': got %d:%d: %s (top %d), expected %d:%d: %s (top %d)\n", text,
            err.line, err.column, err.message, lua_gettop(L), line, column, msg, top);
  }
  return ok;
}

#define CHECK_DECODE_FAILS(L, text, msg, line, column)                                             \
  CHECK(decode_fails(L, text, sizeof(text) - 1, msg, line, column))

/* Encodes the global `v` compactly with sorted keys and compares with expected. */
static int encodes_to(lua_State *L, const char *expected, const vr_encode_opts *opts) {
  vr_codec_error err;
  int top = lua_gettop(L), ok;
  lua_getglobal(L, "v");
  if (!vr_json_encode(L, -1, opts, &err)) {
    fprintf(stderr, "encode failed: %s, expected %s\n", err.message, expected);
    lua_settop(L, top);
    return 0;
  }
  ok = strcmp(lua_tostring(L, -1), expected) == 0 && lua_gettop(L) == top + 2;
  if (!ok) fprintf(stderr, "encode gave\n%s\nexpected\n%s\n", lua_tostring(L, -1), expected);
  lua_settop(L, top);
  return ok;
}

/* Encodes the global `v` expecting failure with exactly msg and the stack unchanged. */
static int encode_fails(lua_State *L, const char *msg) {
  vr_codec_error err;
  int top, ok;
  lua_getglobal(L, "v");
  top = lua_gettop(L);
  if (vr_json_encode(L, -1, NULL, &err)) {
    fprintf(stderr, "encode succeeded with %s, expected error %s\n", lua_tostring(L, -1), msg);
    lua_settop(L, top - 1);
    return 0;
  }
  ok = strcmp(err.message, msg) == 0 && lua_gettop(L) == top;
  if (!ok) fprintf(stderr, "encode error '%s' (top %d), expected '%s'\n", err.message, top, msg);
  if (vr_json_to_cjson(L, -1, &err) != NULL || strcmp(err.message, msg) != 0 ||
      lua_gettop(L) != top) {
    fprintf(stderr, "to_cjson error '%s', expected '%s'\n", err.message, msg);
    ok = 0;
  }
  lua_settop(L, top - 1);
  return ok;
}

static void test_decode_values(lua_State *L) {
  vr_codec_error err;
  const char *doc = "{\"a\": [1, 2.5, \"x\", true, false, null], \"b\": {}, \"c\": []}";
  int top = lua_gettop(L);
  CHECK(vr_json_decode(L, doc, strlen(doc), &err) == 1);
  CHECK(lua_gettop(L) == top + 1);
  CHECK(vr_shape_get(L, -1) == VR_SHAPE_OBJECT);
  lua_getfield(L, -1, "a");
  CHECK(vr_shape_get(L, -1) == VR_SHAPE_ARRAY);
  CHECK(lua_rawlen(L, -1) == 6);
  lua_rawgeti(L, -1, 6);
  CHECK(vr_null_is(L, -1));
  lua_pop(L, 2);
  lua_getfield(L, -1, "b");
  CHECK(vr_shape_get(L, -1) == VR_SHAPE_OBJECT);
  lua_getfield(L, -2, "c");
  CHECK(vr_shape_get(L, -1) == VR_SHAPE_ARRAY);
  lua_settop(L, top);

  CHECK_LUA(L, "local v = json.decode('{\"a\":1,\"b\":[1,2,3],\"c\":null,\"d\":\"x\",\"e\":true,"
               "\"f\":1.5,\"g\":false}')\n"
               "assert(v.a == 1 and math.type(v.a) == 'integer')\n"
               "assert(#v.b == 3 and v.b[3] == 3)\n"
               "assert(v.c == json.null and json.is_null(v.c))\n"
               "assert(v.d == 'x' and v.e == true and v.g == false)\n"
               "assert(v.f == 1.5 and math.type(v.f) == 'float')\n"
               "assert(tostring(v.c) == 'null')");
  /* scalars at the top level, whitespace around, a BOM */
  CHECK_LUA(L, "assert(json.decode(' 42 ') == 42)\n"
               "assert(json.decode('\"s\"') == 's')\n"
               "assert(json.decode('true') == true and json.decode('false') == false)\n"
               "assert(json.decode('null') == json.null)\n"
               "assert(json.decode('\\239\\187\\191[1]')[1] == 1)\n"
               "assert(json.decode('\\r\\n\\t[ 1 , 2 ]\\n')[2] == 2)");
  /* the string "123" stays a string, and resourceVersion-like values keep their bytes */
  CHECK_LUA(L, "local v = json.decode('{\"resourceVersion\":\"123\",\"n\":\"007\"}')\n"
               "assert(v.resourceVersion == '123' and type(v.resourceVersion) == 'string')\n"
               "assert(v.n == '007')\n"
               "assert(json.encode(v) == '{\"n\":\"007\",\"resourceVersion\":\"123\"}')");
  /* duplicate keys: the last one wins, both before and after the table is made */
  CHECK_LUA(
      L, "assert(json.decode('{\"a\":1,\"a\":2}').a == 2)\n"
         "local parts = {}\n"
         "for i = 1, 300 do parts[#parts + 1] = string.format('\"k%d\":%d', i % 280, i) "
         "end\n"
         "local v = json.decode('{' .. table.concat(parts, ',') .. '}')\n"
         "assert(v.k1 == 281 and v.k19 == 299 and v.k20 == 300 and v.k21 == 21 and v.k0 == 280)\n"
         "local n = 0 for _ in pairs(v) do n = n + 1 end assert(n == 280)");
}

static void test_numbers(lua_State *L) {
  CHECK_LUA(L, "assert(math.type(json.decode('5')) == 'integer')\n"
               "assert(math.type(json.decode('-5')) == 'integer')\n"
               "assert(math.type(json.decode('5.0')) == 'float')\n"
               "assert(math.type(json.decode('1e2')) == 'float' and json.decode('1e2') == 100)\n"
               "assert(json.decode('-0') == 0 and math.type(json.decode('-0')) == 'integer')\n"
               "assert(json.decode('0.5e-1') == 0.05)\n"
               "assert(json.decode('1E+2') == 100.0)\n"
               "assert(json.decode('9223372036854775807') == math.maxinteger)\n"
               "assert(math.type(json.decode('9223372036854775807')) == 'integer')\n"
               "assert(json.decode('-9223372036854775808') == math.mininteger)\n"
               "assert(math.type(json.decode('-9223372036854775808')) == 'integer')\n"
               "local big = json.decode('9223372036854775808')\n"
               "assert(math.type(big) == 'float' and big == 2.0^63)\n"
               "assert(math.type(json.decode('-9223372036854775809')) == 'float')\n"
               "assert(math.type(json.decode('12345678901234567890123')) == 'float')\n"
               "assert(json.decode('12345678901234567890123') == 1.2345678901234568e22)\n"
               "assert(json.decode('1e-400') == 0)");
  /* a number longer than the decoder's small buffer */
  CHECK_LUA(L, "local s = '1.' .. string.rep('0', 100) .. '1'\n"
               "assert(json.decode(s) == 1.0)\n"
               "assert(json.decode('[' .. s .. ',' .. s .. ']')[2] == 1.0)");
  /* encoding numbers */
  CHECK_LUA(L, "assert(json.encode(5) == '5' and json.encode(-5) == '-5')\n"
               "assert(json.encode(5.0) == '5' and json.encode(-3.0) == '-3')\n"
               "assert(json.encode(math.maxinteger) == '9223372036854775807')\n"
               "assert(json.encode(math.mininteger) == '-9223372036854775808')\n"
               "assert(json.encode(0.1) == '0.1' and json.encode(1.5) == '1.5')\n"
               "assert(json.encode(1e300) == '1e+300')\n"
               "assert(json.encode(2.0^53) == '9007199254740992')\n"
               "assert(json.encode(2.0^60) == '1.152921504606847e+18')\n"
               "assert(json.encode(1/3) == '0.33333333333333331')\n"
               "for _, x in ipairs({1/3, 2/3, 0.1, 1e-7, 123.456, 2.0^70, -1e-300, 5e-324}) do\n"
               "  assert(json.decode(json.encode(x)) == x, x)\n"
               "end");
}

static void test_strings(lua_State *L) {
  CHECK_LUA(L, "assert(json.decode('\"\\\\u00e9\"') == '\\u{e9}')\n"
               "assert(json.decode('\"\\\\u20AC\"') == '\\u{20ac}')\n"
               "assert(json.decode('\"\\\\ud83d\\\\ude00\"') == '\\u{1f600}')\n"
               "assert(json.decode('\"\\\\u0000\"') == '\\0')\n"
               "assert(json.decode('\"a\\\\\"b\\\\\\\\c\\\\/d\\\\b\\\\f\\\\n\\\\r\\\\t\"') == "
               "'a\"b\\\\c/d\\b\\f\\n\\r\\t')\n"
               "assert(json.decode('\"h\\u{e9}llo \\u{20ac} \\u{1f600}\"') == 'h\\u{e9}llo "
               "\\u{20ac} \\u{1f600}')");
  /* escaped strings longer than the scratch buffer, and escapes at the very end */
  CHECK_LUA(L, "local raw = string.rep('ab\\\\n', 1000)\n"
               "local v = json.decode('[\"' .. raw .. '\"]')[1]\n"
               "assert(v == string.rep('ab\\n', 1000))\n"
               "assert(json.decode('\"' .. string.rep('x', 5000) .. '\\\\u00e9\"') == "
               "string.rep('x', 5000) .. '\\u{e9}')");
  /* encoding strings: escapes, control characters, UTF-8 kept as is */
  CHECK_LUA(L, "assert(json.encode('a\"b\\\\c\\n\\t\\1\\31\\127/') == "
               "'\"a\\\\\"b\\\\\\\\c\\\\n\\\\t\\\\u0001\\\\u001f\\127/\"')\n"
               "assert(json.encode('\\u{e9}\\u{1f600}') == '\"\\u{e9}\\u{1f600}\"')\n"
               "assert(json.encode('\\0') == '\"\\\\u0000\"')\n"
               "assert(json.encode('\\b\\f\\r') == '\"\\\\b\\\\f\\\\r\"')\n"
               "local s = string.rep('x\\n', 3000)\n"
               "assert(json.decode(json.encode(s)) == s)");
}

static void test_decode_errors(lua_State *L) {
  CHECK_DECODE_FAILS(L, "", "empty input, expected a JSON value", 1, 1);
  CHECK_DECODE_FAILS(L, "  \n ", "empty input, expected a JSON value", 2, 2);
  CHECK_DECODE_FAILS(L, "{\"a\":1,}", "trailing comma before '}'", 1, 7);
  CHECK_DECODE_FAILS(L, "[1,2,]", "trailing comma before ']'", 1, 5);
  CHECK_DECODE_FAILS(L, "[1,2,\n  ]", "trailing comma before ']'", 1, 5);
  CHECK_DECODE_FAILS(L, "{\"a\" 1}", "expected ':' after object key, got '1'", 1, 6);
  CHECK_DECODE_FAILS(L, "{\"a\":1 \"b\":2}", "expected ',' or '}' after object member, got '\"'", 1,
                     8);
  CHECK_DECODE_FAILS(L, "[1 2]", "expected ',' or ']' after array element, got '2'", 1, 4);
  CHECK_DECODE_FAILS(L, "{a:1}", "expected '\"' to start an object key, got 'a'", 1, 2);
  CHECK_DECODE_FAILS(L, "{\"a\":1,,}", "expected '\"' to start an object key, got ','", 1, 8);
  CHECK_DECODE_FAILS(L, "\"abc", "unterminated string", 1, 1);
  CHECK_DECODE_FAILS(L, "[\"abc\\", "unterminated string", 1, 6);
  CHECK_DECODE_FAILS(L, "{\"a\":\"x\n", "unescaped newline in string (unterminated string?)", 1, 8);
  CHECK_DECODE_FAILS(L, "{\"a\":\"\\x\"}", "invalid escape '\\x' in string", 1, 7);
  CHECK_DECODE_FAILS(L, "[\"a\tb\"]", "unescaped control character 0x09 in string", 1, 4);
  CHECK_DECODE_FAILS(L, "\"\\u12G4\"", "invalid \\u escape (expected 4 hex digits)", 1, 2);
  CHECK_DECODE_FAILS(L, "\"\\u12\"", "invalid \\u escape (expected 4 hex digits)", 1, 2);
  CHECK_DECODE_FAILS(L, "[\"\\ud800\"]", "lone surrogate \\uD800 in string", 1, 3);
  CHECK_DECODE_FAILS(L, "[\"\\udc00\"]", "lone surrogate \\uDC00 in string", 1, 3);
  CHECK_DECODE_FAILS(L, "\"x\\ud83d\\u0041\"", "lone surrogate \\uD83D in string", 1, 3);
  CHECK_DECODE_FAILS(L, "\"\xff\"", "invalid UTF-8 byte 0xFF in string", 1, 2);
  CHECK_DECODE_FAILS(L, "\"ab\xc0\x80\"", "invalid UTF-8 byte 0xC0 in string", 1, 4);
  CHECK_DECODE_FAILS(L, "\"\xe2\x82\"", "invalid UTF-8 byte 0xE2 in string", 1, 2);
  CHECK_DECODE_FAILS(L, "\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xED in string", 1, 2);
  CHECK_DECODE_FAILS(L, "\"\xf4\x90\x80\x80\"", "invalid UTF-8 byte 0xF4 in string", 1, 2);
  CHECK_DECODE_FAILS(L, "{\n  \"a\": 1,\n  \"b\": tru\n}", "invalid literal (expected true)", 3, 8);
  CHECK_DECODE_FAILS(L, "[nul]", "invalid literal (expected null)", 1, 2);
  CHECK_DECODE_FAILS(L, "fals", "invalid literal (expected false)", 1, 1);
  CHECK_DECODE_FAILS(L, "{\"a\": [1, 2",
                     "expected ',' or ']' after array element, got end of input", 1, 12);
  CHECK_DECODE_FAILS(L, "{\"a\": ", "unexpected end of input, expected a value", 1, 7);
  CHECK_DECODE_FAILS(L, "{\"a\"", "expected ':' after object key, got end of input", 1, 5);
  CHECK_DECODE_FAILS(L, "{", "expected '\"' to start an object key, got end of input", 1, 2);
  CHECK_DECODE_FAILS(L, "[1] x", "unexpected 'x' after the JSON value", 1, 5);
  CHECK_DECODE_FAILS(L, "{}{}", "unexpected '{' after the JSON value", 1, 3);
  CHECK_DECODE_FAILS(L, "01", "invalid number: leading zero", 1, 1);
  CHECK_DECODE_FAILS(L, "-", "invalid number: expected a digit", 1, 2);
  CHECK_DECODE_FAILS(L, "[-a]", "invalid number: expected a digit", 1, 3);
  CHECK_DECODE_FAILS(L, "1.", "invalid number: expected a digit", 1, 3);
  CHECK_DECODE_FAILS(L, "1.e5", "invalid number: expected a digit", 1, 3);
  CHECK_DECODE_FAILS(L, "1e+", "invalid number: expected a digit", 1, 4);
  CHECK_DECODE_FAILS(L, "[1e999]", "number out of range", 1, 2);
  CHECK_DECODE_FAILS(L, ".5", "unexpected '.', expected a value", 1, 1);
  CHECK_DECODE_FAILS(L, "+1", "unexpected '+', expected a value", 1, 1);
  CHECK_DECODE_FAILS(L, "[NaN]", "unexpected 'N', expected a value", 1, 2);
  CHECK_DECODE_FAILS(L, "[1,\0]", "unexpected byte 0x00, expected a value", 1, 4);
  CHECK_DECODE_FAILS(L, "\xef\xbb\xbf{x", "expected '\"' to start an object key, got 'x'", 1, 2);
  CHECK_DECODE_FAILS(L, "[1,2]\n\n   ]", "unexpected ']' after the JSON value", 3, 4);
  /* errors deep inside a container whose table was already made (> 256 members) */
  {
    char doc[4000];
    size_t n = 0;
    int i;
    doc[n++] = '[';
    for (i = 0; i < 600; i++) n += (size_t)snprintf(doc + n, sizeof doc - n, "%d,", i % 10);
    doc[n++] = 'x';
    doc[n++] = ']';
    CHECK(decode_fails(L, doc, n, "unexpected 'x', expected a value", 1, 1202));
  }
}

static void test_nesting(lua_State *L) {
  char *doc = malloc(2 * 1001 + 8);
  vr_codec_error err;
  int i, top = lua_gettop(L);
  /* 1000 levels decode */
  for (i = 0; i < 1000; i++) doc[i] = '[';
  for (i = 0; i < 1000; i++) doc[1000 + i] = ']';
  CHECK(vr_json_decode(L, doc, 2000, &err) == 1);
  CHECK(lua_gettop(L) == top + 1);
  /* and encode back */
  CHECK(vr_json_encode(L, -1, NULL, &err) == 1);
  CHECK(lua_rawlen(L, -1) == 2000);
  CHECK(memcmp(lua_tostring(L, -1), doc, 2000) == 0);
  lua_settop(L, top);
  /* 1001 levels fail at the 1001st bracket, without crashing */
  for (i = 0; i < 1001; i++) doc[i] = '[';
  for (i = 0; i < 1001; i++) doc[1001 + i] = ']';
  CHECK(decode_fails(L, doc, 2002, "nesting deeper than 1000 levels", 1, 1001));
  for (i = 0; i < 1001; i++) doc[i] = i % 2 ? '[' : '{';
  CHECK(decode_fails(L, doc, 1001, "expected '\"' to start an object key, got '['", 1, 2));
  for (i = 0; i < 1001; i++) {
    doc[2 * i] = '[';
    doc[2 * i + 1] = '\n';
  }
  CHECK(decode_fails(L, doc, 2002, "nesting deeper than 1000 levels", 1001, 1));
  free(doc);
  /* the encoder caps depth as well */
  CHECK_LUA(L, "local t = {} v = t for i = 1, 1000 do t[1] = {} t = t[1] end");
  {
    vr_codec_error e2;
    lua_getglobal(L, "v");
    top = lua_gettop(L);
    CHECK(vr_json_encode(L, -1, NULL, &e2) == 0);
    CHECK(lua_gettop(L) == top);
    CHECK_CONTAINS(e2.message, ": nesting deeper than 1000 levels");
    CHECK(strncmp(e2.message, "$...[1][1]", 10) == 0);
    lua_pop(L, 1);
  }
  /* every level holding as many members as the decoder collects on the stack */
  CHECK_LUA(L, "local parts = {}\n"
               "for i = 1, 1000 do parts[i] = '{' .. string.rep('\"k\":0,', 255) .. '\"n\":' end\n"
               "local text = table.concat(parts) .. '0' .. string.rep('}', 1000)\n"
               "local v = json.decode(text)\n"
               "for i = 1, 999 do v = v.n end assert(v.n == 0 and v.k == 0)\n"
               "parts = {}\n"
               "for i = 1, 1000 do parts[i] = '[' .. string.rep('0,', 255) end\n"
               "v = json.decode(table.concat(parts) .. '1' .. string.rep(']', 1000))\n"
               "for i = 1, 999 do v = v[256] end assert(v[256] == 1)");
  CHECK_LUA(L, "local t = {} v = t for i = 1, 999 do t[1] = {} t = t[1] end\n"
               "assert(#json.encode(v) == 2000)");
}

static void test_encode(lua_State *L) {
  vr_encode_opts pretty = {1, 2, 1}, pretty4 = {1, 4, 1}, unsorted = {0, 2, 0};
  /* shapes: empty tagged tables, empty untagged table, nested */
  CHECK_LUA(L, "v = {a = json.object(), b = json.array(), c = {}, d = {1, 2, {x = json.null}}}");
  CHECK(encodes_to(L, "{\"a\":{},\"b\":[],\"c\":{},\"d\":[1,2,{\"x\":null}]}", NULL));
  CHECK_LUA(L, "v = json.decode('{\"a\":{},\"b\":[],\"c\":[[],{}]}')");
  CHECK(encodes_to(L, "{\"a\":{},\"b\":[],\"c\":[[],{}]}", NULL));
  /* pretty output */
  CHECK_LUA(L, "v = {b = {1, 2, {}}, a = {c = json.null, d = json.array()}, e = 'x'}");
  CHECK(encodes_to(L,
                   "{\n"
                   "  \"a\": {\n"
                   "    \"c\": null,\n"
                   "    \"d\": []\n"
                   "  },\n"
                   "  \"b\": [\n"
                   "    1,\n"
                   "    2,\n"
                   "    {}\n"
                   "  ],\n"
                   "  \"e\": \"x\"\n"
                   "}",
                   &pretty));
  CHECK_LUA(L, "v = {k = {true, false}}");
  CHECK(encodes_to(L, "{\n    \"k\": [\n        true,\n        false\n    ]\n}", &pretty4));
  CHECK_LUA(L, "v = 'top'");
  CHECK(encodes_to(L, "\"top\"", &pretty));
  CHECK_LUA(L, "assert(json.encode({a = {1}}, {pretty = true}) == '{\\n  \"a\": [\\n    1\\n  "
               "]\\n}')\n"
               "assert(json.encode({a = {1}}, {indent = 3}) == '{\\n   \"a\": [\\n      1\\n   "
               "]\\n}')\n"
               "assert(json.encode({a = {1}}, {indent = 3, pretty = false}) == '{\"a\":[1]}')");
  /* sorted keys are deterministic whatever the insertion order; byte order */
  CHECK_LUA(L, "local a, b = {}, {}\n"
               "local keys = {}\n"
               "for i = 1, 200 do keys[i] = 'key' .. i end\n"
               "keys[#keys + 1] = 'B' keys[#keys + 1] = 'a' keys[#keys + 1] = '_' keys[#keys + "
               "1] = 'key'\n"
               "for i = 1, #keys do a[keys[i]] = i end\n"
               "for i = #keys, 1, -1 do b[keys[i]] = i end\n"
               "local ea, eb = json.encode(a), json.encode(b)\n"
               "assert(ea == eb)\n"
               "assert(ea:sub(1, 27) == '{\"B\":201,\"_\":203,\"a\":202,\"k', ea:sub(1, 30))\n"
               "assert(ea:find('\"key\":204,\"key1\":1,\"key10\":10,\"key100\":100', 1, true))\n"
               "assert(json.encode({b = 1, a = 2}, {sort_keys = true}) == '{\"a\":2,\"b\":1}')\n"
               "local u = json.decode(json.encode(a, {sort_keys = false}))\n"
               "for k, x in pairs(a) do assert(u[k] == x) end");
  CHECK_LUA(L, "assert(json.encode({['a\"b\\n'] = 1}) == '{\"a\\\\\"b\\\\n\":1}')\n"
               "assert(json.encode({1}, {indent = 4.0}) == '[\\n    1\\n]')");
  CHECK_LUA(L, "v = {z = 1}");
  CHECK(encodes_to(L, "{\"z\":1}", &unsorted));
  /* round trips of canonical (sorted, compact) documents */
  CHECK_LUA(L, "for _, s in ipairs({'[]', '{}', '[[]]', '[{}]', '{\"a\":[]}', 'null', '\"\"', "
               "'[1,-2,3.5,\"x\",true,false,null]', '{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}', "
               "'\"\\\\u0001\"', '[\"\\\\\"\\\\\\\\\"]', '9223372036854775807'}) do\n"
               "  local e = json.encode(json.decode(s))\n"
               "  assert(e == s, s .. ' -> ' .. e)\n"
               "end");
  /* a table shared twice is not a cycle */
  CHECK_LUA(L, "local s = {1} assert(json.encode({a = s, b = s, c = {s, s}}) == "
               "'{\"a\":[1],\"b\":[1],\"c\":[[1],[1]]}')");
  /* other metatables are ignored (raw access); json.object/array re-tag */
  CHECK_LUA(L, "local t = setmetatable({}, {__index = function() return 1 end})\n"
               "assert(json.encode(t) == '{}')\n"
               "assert(json.encode(json.object(json.array({}))) == '{}')\n"
               "assert(json.encode(json.array({})) == '[]' and json.encode(json.object({})) == "
               "'{}')");
}

static void test_encode_errors(lua_State *L) {
  CHECK_LUA(L, "v = {spec = {items = {{}, {}, {1, 2, x = 3}}}}");
  CHECK(encode_fails(L, "$.spec.items[3]: table mixes integer and string keys"));
  CHECK_LUA(L, "v = {1, 2, nil, 4}");
  CHECK(encode_fails(L, "$: sparse array (3 elements, highest index 4)"));
  CHECK_LUA(L, "v = {a = {[0] = 'x', 'y'}}");
  CHECK(encode_fails(L, "$.a: table has the integer key 0 (arrays start at 1)"));
  CHECK_LUA(L, "v = {a = {b = {}}} v.a.b.c = v.a");
  CHECK(encode_fails(L, "$.a.b.c: cycle (the table is its own ancestor $.a)"));
  CHECK_LUA(L, "v = {} v[1] = v");
  CHECK(encode_fails(L, "$[1]: cycle (the table is its own ancestor $)"));
  CHECK_LUA(L, "v = {x = {0/0}}");
  CHECK(encode_fails(L, "$.x[1]: NaN cannot be encoded in JSON"));
  CHECK_LUA(L, "v = {x = math.huge}");
  CHECK(encode_fails(L, "$.x: inf cannot be encoded in JSON"));
  CHECK_LUA(L, "v = {x = -math.huge}");
  CHECK(encode_fails(L, "$.x: -inf cannot be encoded in JSON"));
  CHECK_LUA(L, "v = {metadata = {annotations = {['kubevirt.io/x'] = print}}}");
  CHECK(encode_fails(L, "$.metadata.annotations[\"kubevirt.io/x\"]: function cannot be encoded in "
                        "JSON"));
  CHECK_LUA(L, "v = {co = coroutine.create(print)}");
  CHECK(encode_fails(L, "$.co: thread cannot be encoded in JSON"));
  CHECK_LUA(L, "v = {f = io.stdout}");
  CHECK(encode_fails(L, "$.f: userdata cannot be encoded in JSON"));
  CHECK_LUA(L, "v = nil");
  CHECK(encode_fails(L, "$: nil cannot be encoded in JSON (use json.null)"));
  CHECK_LUA(L, "v = {[true] = 1}");
  CHECK(encode_fails(L, "$: table has a key of type boolean"));
  CHECK_LUA(L, "v = {a = {[1.5] = 1}}");
  CHECK(encode_fails(L, "$.a: table has the non-integer number key 1.5"));
  CHECK_LUA(L, "v = json.array({x = 1})");
  CHECK(encode_fails(L, "$: array has the string key \"x\""));
  CHECK_LUA(L, "v = json.object({1})");
  CHECK(encode_fails(L, "$: object has the integer key 1"));
  CHECK_LUA(L, "v = {['a\"b'] = {['c\\\\d'] = print}}");
  CHECK(encode_fails(L, "$[\"a\\\"b\"][\"c\\\\d\"]: function cannot be encoded in JSON"));
  CHECK_LUA(L, "v = {_ok9 = {[''] = {x = print}}}");
  CHECK(encode_fails(L, "$._ok9[\"\"].x: function cannot be encoded in JSON"));
}

static void test_cjson_bridge(lua_State *L) {
  vr_codec_error err;
  const char *doc = "{\"a\":[1,2.5,-3,\"s\",true,false,null,{},[]],\"b\":{\"c\":9007199254740992,"
                    "\"d\":1e300,\"e\":\"\\u00e9\"}}";
  cJSON *tree = cJSON_Parse(doc), *back;
  char *printed;
  int top = lua_gettop(L);
  CHECK(tree != NULL);
  vr_json_push_cjson(L, tree);
  CHECK(lua_gettop(L) == top + 1);
  lua_setglobal(L, "v");
  CHECK_LUA(L, "assert(math.type(v.a[1]) == 'integer' and math.type(v.a[3]) == 'integer')\n"
               "assert(math.type(v.a[2]) == 'float' and v.a[7] == json.null)\n"
               "assert(math.type(v.b.c) == 'integer' and v.b.c == 2^53)\n"
               "assert(math.type(v.b.d) == 'float' and v.b.e == '\\u{e9}')");
  CHECK(encodes_to(L,
                   "{\"a\":[1,2.5,-3,\"s\",true,false,null,{},[]],\"b\":{\"c\":9007199254740992,"
                   "\"d\":1e+300,\"e\":\"\xc3\xa9\"}}",
                   NULL));
  lua_getglobal(L, "v");
  back = vr_json_to_cjson(L, -1, &err);
  CHECK(back != NULL);
  CHECK(lua_gettop(L) == top + 1);
  lua_pop(L, 1);
  CHECK(cJSON_Compare(tree, back, 1));
  /* cJSON's own printer rounds 2^53 ("9.00719925474099e+15"); the tree holds it exactly */
  CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "b"), "c")->valuedouble ==
        9007199254740992.0);
  printed = cJSON_PrintUnformatted(cJSON_GetObjectItem(back, "a"));
  CHECK_STR(printed, "[1,2.5,-3,\"s\",true,false,null,{},[]]");
  free(printed);
  cJSON_Delete(back);
  cJSON_Delete(tree);

  /* scalars and NULL */
  vr_json_push_cjson(L, NULL);
  CHECK(vr_null_is(L, -1));
  lua_pop(L, 1);
  tree = cJSON_CreateNumber(-0.5);
  vr_json_push_cjson(L, tree);
  CHECK(lua_tonumber(L, -1) == -0.5 && !lua_isinteger(L, -1));
  lua_pop(L, 1);
  cJSON_Delete(tree);
  tree = cJSON_CreateNumber(1e16);
  vr_json_push_cjson(L, tree);
  CHECK(!lua_isinteger(L, -1));
  lua_pop(L, 1);
  cJSON_Delete(tree);

  /* keys sorted in the cJSON tree too; deeply nested */
  CHECK_LUA(L, "v = {z = 1, a = {b = {c = {d = json.array()}}}}");
  lua_getglobal(L, "v");
  back = vr_json_to_cjson(L, -1, &err);
  lua_pop(L, 1);
  printed = back ? cJSON_PrintUnformatted(back) : NULL;
  CHECK_STR(printed, "{\"a\":{\"b\":{\"c\":{\"d\":[]}}},\"z\":1}");
  free(printed);
  cJSON_Delete(back);

  /* the encoder's checks, plus what cJSON cannot hold */
  CHECK_LUA(L, "v = {a = {b = {1, 2, math.maxinteger}}}");
  lua_getglobal(L, "v");
  CHECK(vr_json_to_cjson(L, -1, &err) == NULL);
  CHECK(lua_gettop(L) == top + 1);
  CHECK_STR(err.message,
            "$.a.b[3]: integer 9223372036854775807 is beyond 2^53 and cannot be held exactly by "
            "cJSON");
  lua_pop(L, 1);
  CHECK_LUA(L, "v = {a = {'x\\0y'}}");
  lua_getglobal(L, "v");
  CHECK(vr_json_to_cjson(L, -1, &err) == NULL);
  CHECK_STR(err.message, "$.a[1]: string contains a NUL byte, which cJSON cannot hold");
  lua_pop(L, 1);
  CHECK_LUA(L, "v = {['x\\0y'] = 1}");
  lua_getglobal(L, "v");
  CHECK(vr_json_to_cjson(L, -1, &err) == NULL);
  CHECK_STR(err.message, "$[\"x?y\"]: object key contains a NUL byte, which cJSON cannot hold");
  lua_pop(L, 1);
  /* failures after part of the tree was built free it (ASan/valgrind check this) */
  CHECK_LUA(L, "v = {a = {1, 2, 3, {b = 'x'}}, z = {print}}");
  CHECK(encode_fails(L, "$.z[1]: function cannot be encoded in JSON"));

  /* a deep cJSON tree, built by hand past cJSON's own parse limit */
  {
    cJSON *root = cJSON_CreateArray(), *cur = root;
    int i;
    for (i = 0; i < 3000; i++) {
      cJSON *next = cJSON_CreateArray();
      cJSON_AddItemToArray(cur, next);
      cur = next;
    }
    cJSON_AddItemToArray(cur, cJSON_CreateString("deep"));
    vr_json_push_cjson(L, root);
    CHECK(lua_gettop(L) == top + 1);
    CHECK(vr_shape_get(L, -1) == VR_SHAPE_ARRAY);
    lua_setglobal(L, "v");
    CHECK_LUA(L, "local t = v for i = 1, 3000 do t = t[1] end assert(t[1] == 'deep')");
    cJSON_Delete(root);
  }
  /* interned member names (as the YAML and Lua converters give them) come out as the same
   * keys, the first time and from the name cache afterwards, next to copied names; also below
   * the recursion limit, where the iterative walk takes over */
  {
    const char *names[] = {"metadata", "name", "labels", "app"};
    cJSON *obj = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *deep = cJSON_CreateArray();
    cJSON *cur = deep;
    int i;
    for (i = 0; i < 4; i++) CHECK(vr_json_intern(names[i]) != NULL);
    CHECK(vr_json_intern_number(vr_json_intern("metadata")) >= 0);
    CHECK(vr_json_intern_number(vr_json_intern("name")) !=
          vr_json_intern_number(vr_json_intern("metadata")));
    cJSON_AddItemToObjectCS(meta, vr_json_intern("name"), cJSON_CreateString("vm-1"));
    cJSON_AddItemToObject(meta, "copied", cJSON_CreateString("c"));
    cJSON_AddItemToObjectCS(obj, vr_json_intern("metadata"), meta);
    for (i = 0; i < 150; i++) {
      cJSON *next = cJSON_CreateArray();
      cJSON_AddItemToArray(cur, next);
      cur = next;
    }
    {
      cJSON *leaf = cJSON_CreateObject();
      cJSON_AddItemToObjectCS(leaf, vr_json_intern("app"), cJSON_CreateString("db"));
      cJSON_AddItemToArray(cur, leaf);
    }
    cJSON_AddItemToObjectCS(obj, vr_json_intern("labels"), deep);
    for (i = 0; i < 2; i++) {
      vr_json_push_cjson(L, obj);
      CHECK(lua_gettop(L) == top + 1);
      lua_setglobal(L, "v");
      CHECK_LUA(L, "assert(v.metadata.name == 'vm-1' and v.metadata.copied == 'c')\n"
                   "local t = v.labels for i = 1, 150 do t = t[1] end\n"
                   "assert(t[1].app == 'db')\n"
                   "local keys = {} for k in pairs(v) do keys[#keys + 1] = k end\n"
                   "table.sort(keys) assert(table.concat(keys, ',') == 'labels,metadata')");
    }
    cJSON_Delete(obj);
  }
  /* objects with many members and a raw item */
  {
    cJSON *obj = cJSON_CreateObject();
    int i;
    char key[16];
    for (i = 0; i < 500; i++) {
      snprintf(key, sizeof key, "k%03d", i);
      cJSON_AddNumberToObject(obj, key, i);
    }
    cJSON_AddRawToObject(obj, "raw", "[1,2]");
    vr_json_push_cjson(L, obj);
    lua_setglobal(L, "v");
    CHECK_LUA(L, "assert(v.k000 == 0 and v.k499 == 499 and v.raw == '[1,2]')\n"
                 "assert(getmetatable(v) == getmetatable(json.object()))");
    cJSON_Delete(obj);
  }
}

static void test_module(lua_State *L) {
  /* decode errors: the vmrun.Error fields */
  CHECK_LUA(L,
            "local ok, e = pcall(json.decode, '{\\n  \"a\": [1,]\\n}', {name = 'cluster.json'})\n"
            "assert(not ok)\n"
            "assert(getmetatable(e) and getmetatable(e).__name == 'vmrun.Error')\n"
            "assert(e.kind == 'decode', e.kind)\n"
            "assert(e.message == \"cluster.json:2:10: trailing comma before ']'\", e.message)\n"
            "assert(e.line == 2 and e.column == 10 and e.resource == 'cluster.json')\n"
            "assert(tostring(e) == e.message)\n"
            "local ok2, e2 = pcall(json.decode, 'x')\n"
            "assert(e2.message == \"json:1:1: unexpected 'x', expected a value\", e2.message)");
  CHECK_LUA(L, "local v, e = json.try_decode('[1, 2')\n"
               "assert(v == nil and e.kind == 'decode' and e.line == 1 and e.column == 6)\n"
               "assert(e.message == \"json:1:6: expected ',' or ']' after array element, got end "
               "of input\", e.message)\n"
               "local w, e3 = json.try_decode('[1]', {name = 'x'})\n"
               "assert(w[1] == 1 and e3 == nil)");
  /* misuse raises argument errors with the caller's location */
  CHECK_LUA(L, "local ok, e = pcall(json.decode, 12)\n"
               "assert(not ok and e:find('bad argument #1 to .-string expected, got number'), e)\n"
               "ok, e = pcall(json.decode, '1', {nmae = 'x'})\n"
               "assert(not ok and e:find(\"unknown option 'nmae'\"), e)\n"
               "ok, e = pcall(json.decode, '1', {name = 5})\n"
               "assert(not ok and e:find(\"option 'name' must be a string, not a number\"), e)\n"
               "ok, e = pcall(json.encode, {}, {pretty = 1})\n"
               "assert(not ok and e:find(\"option 'pretty' must be a boolean\"), e)\n"
               "ok, e = pcall(json.encode, {}, {indent = 40})\n"
               "assert(not ok and e:find(\"indent\"), e)\n"
               "ok, e = pcall(json.encode, {}, 'pretty')\n"
               "assert(not ok and e:find('table expected'), e)\n"
               "ok, e = pcall(json.encode)\n"
               "assert(not ok and e:find('bad argument #1'), e)\n"
               "ok, e = pcall(json.object, 5)\n"
               "assert(not ok and e:find('table expected'), e)\n"
               "ok, e = pcall(json.array, setmetatable({}, {}))\n"
               "assert(not ok and e:find('already has a metatable'), e)\n"
               "ok, e = pcall(json.is_null)\n"
               "assert(not ok)");
  /* encode errors: kind, caller location */
  CHECK_LUA(L, "local ok, e = pcall(function()\n"
               "  return json.encode({spec = {items = {1, 2, {a = 1, 2}}}})\n"
               "end)\n"
               "assert(not ok and e.kind == 'encode')\n"
               "assert(e.message == 't:2: $.spec.items[3]: table mixes integer and string keys', "
               "e.message)");
  /* json.object / json.array / json.null / is_null */
  CHECK_LUA(L, "local t = {} assert(json.object(t) == t)\n"
               "assert(json.encode(t) == '{}')\n"
               "assert(json.encode(json.array(t)) == '[]')\n"
               "assert(json.encode(json.object()) == '{}' and json.encode(json.array()) == '[]')\n"
               "assert(json.encode(json.array(nil)) == '[]')\n"
               "assert(json.is_null(json.null) and not json.is_null(nil) and not "
               "json.is_null(false))\n"
               "assert(json.encode(json.null) == 'null')\n"
               "assert(json.encode({json.null, json.null}) == '[null,null]')\n"
               "assert(#json.decode('[null,null,null]') == 3)\n"
               "local d = json.decode('{\"a\":null}') local n = 0 for _ in pairs(d) do n = n + 1 "
               "end assert(n == 1)");
  /* decode_file */
  {
    const char *path = "/tmp/vmrun_test_json.json";
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
      fputs("{\n  \"kind\": \"List\",\n  \"items\": [1, 2 3]\n}\n", f);
      fclose(f);
    }
    CHECK_LUA(L, "local ok, e = pcall(json.decode_file, '/tmp/vmrun_test_json.json')\n"
                 "assert(not ok and e.kind == 'decode')\n"
                 "assert(e.message == \"/tmp/vmrun_test_json.json:3:18: expected ',' or ']' after "
                 "array element, got '3'\", e.message)\n"
                 "assert(e.resource == '/tmp/vmrun_test_json.json')");
    f = fopen(path, "w");
    if (f) {
      fputs("{\"kind\": \"List\", \"items\": []}", f);
      fclose(f);
    }
    CHECK_LUA(
        L,
        "local v = json.decode_file('/tmp/vmrun_test_json.json')\n"
        "assert(v.kind == 'List' and json.encode(v.items) == '[]')\n"
        "local ok, e = pcall(function() return json.decode_file('/nonexistent/cluster.json') end)\n"
        "assert(not ok and e.kind == 'input', e.kind)\n"
        "assert(e.message == 't:3: /nonexistent/cluster.json: No such file or "
        "directory', e.message)\n"
        "assert(e.resource == '/nonexistent/cluster.json')");
    remove(path);
  }
}

static int run_dummy(lua_State *L) {
  return 0;
}

/* C-level: the stack is unchanged after each kind of failure, and the output is exact. */
static void test_stack_hygiene(lua_State *L) {
  vr_codec_error err;
  int top, i;
  const char *bad[] = {"[1,2,{\"a\":[1,2,\"x\\q\"]}]", "{\"a\":{\"b\":{\"c\":[1,2,3,", "[\"\xff\"]",
                       "[1e999]"};
  lua_pushliteral(L, "sentinel");
  top = lua_gettop(L);
  for (i = 0; i < 4; i++) {
    CHECK(vr_json_decode(L, bad[i], strlen(bad[i]), &err) == 0);
    CHECK(lua_gettop(L) == top);
    CHECK(err.line == 1 && err.column > 0 && err.message[0] != '\0');
  }
  /* a big array whose table was made before the error */
  {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '[');
    for (i = 0; i < 2000; i++) luaL_addstring(&b, "{\"k\":[1,2,3]},");
    luaL_addstring(&b, "{\"k\":[1,2,3]]");
    luaL_pushresult(&b);
    CHECK(vr_json_decode(L, lua_tostring(L, -1), lua_rawlen(L, -1), &err) == 0);
    CHECK(lua_gettop(L) == top + 1);
    CHECK_STR(err.message, "expected ',' or '}' after object member, got ']'");
    lua_pop(L, 1);
  }
  /* encode from a negative index, and a relative index into a full stack */
  lua_pushinteger(L, 7);
  CHECK(vr_json_encode(L, -1, NULL, &err) == 1);
  CHECK_STR(lua_tostring(L, -1), "7");
  CHECK(lua_gettop(L) == top + 2);
  lua_settop(L, top);
  CHECK(vr_json_encode(L, top + 5, NULL, &err) == 0); /* an empty slot */
  CHECK(lua_gettop(L) == top);
  CHECK_CONTAINS(err.message, "$: nil cannot be encoded");
  CHECK(lua_tostring(L, -1) != NULL && strcmp(lua_tostring(L, -1), "sentinel") == 0);
  /* err may be NULL */
  CHECK(vr_json_decode(L, "[1,]", 4, NULL) == 0);
  CHECK(vr_json_decode(L, "[1]", 3, NULL) == 1);
  CHECK(vr_json_encode(L, -1, NULL, NULL) == 1);
  CHECK_STR(lua_tostring(L, -1), "[1]");
  {
    cJSON *tree = vr_json_to_cjson(L, -2, NULL);
    CHECK(tree != NULL && cJSON_IsArray(tree));
    cJSON_Delete(tree);
  }
  lua_pushcfunction(L, run_dummy);
  CHECK(vr_json_to_cjson(L, -1, NULL) == NULL);
  CHECK(vr_json_encode(L, -1, NULL, NULL) == 0);
  CHECK(lua_gettop(L) == top + 3);
  lua_settop(L, top - 1);
}

/* An allocator that fails once `limit` bytes are in use, to drive memory errors everywhere. */
typedef struct limited {
  size_t used, limit;
} limited;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  limited *m = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    m->used -= old;
    return NULL;
  }
  if (nsize > old && m->used + (nsize - old) > m->limit) return NULL;
  ptr = realloc(ptr, nsize);
  if (ptr != NULL) m->used = m->used - old + nsize;
  return ptr;
}

static int protected_roundtrip(lua_State *L) {
  const char *doc = lua_tostring(L, 1);
  vr_codec_error err;
  vr_encode_opts opts = {1, 2, 1};
  cJSON *tree;
  if (!vr_json_decode(L, doc, strlen(doc), &err)) return luaL_error(L, "decode: %s", err.message);
  if (!vr_json_encode(L, -1, &opts, &err)) return luaL_error(L, "encode: %s", err.message);
  tree = vr_json_to_cjson(L, -2, &err);
  if (tree == NULL) return luaL_error(L, "to_cjson: %s", err.message);
  cJSON_Delete(tree);
  return 1;
}

static void test_memory_errors(void) {
  const char *doc = "{\"items\":[{\"metadata\":{\"name\":\"vm-1\",\"labels\":{\"a\":\"b\"}},"
                    "\"spec\":{\"n\":[1,2.5,null,true],\"s\":\"esc\\n\\u00e9aped string value "
                    "long enough to be a long string in Lua\"}},[],{}]}";
  size_t limit;
  int ok_runs = 0, mem_errors = 0;
  for (limit = 8000; limit < 80000; limit += 97) {
    limited m = {0, limit};
    lua_State *L = lua_newstate(limited_alloc, &m);
    int status;
    if (L == NULL) continue;
    lua_pushcfunction(L, protected_roundtrip);
    lua_pushstring(L, doc);
    status = lua_pcall(L, 1, 1, 0);
    if (status == LUA_OK) {
      CHECK(strncmp(lua_tostring(L, -1), "{\n  \"items\": [\n    {\n      \"metadata\"", 30) == 0);
      ok_runs++;
    } else {
      /* a Lua memory error, or the codec's own "out of memory" */
      CHECK(status == LUA_ERRMEM || strstr(lua_tostring(L, -1), "out of memory") != NULL);
      mem_errors++;
    }
    lua_close(L);
  }
  CHECK(ok_runs > 0);
  CHECK(mem_errors > 0);
}

/* A decode of a larger generated document equals its re-encode; batches at their boundaries. */
static void test_sizes(lua_State *L) {
  CHECK_LUA(L, "for _, n in ipairs({1, 2, 255, 256, 257, 511, 512, 513, 1000, 5000}) do\n"
               "  local parts, obj = {}, {}\n"
               "  for i = 1, n do parts[i] = tostring(i) obj[i] = string.format('\"k%05d\":%d', "
               "i, i) end\n"
               "  local a = json.decode('[' .. table.concat(parts, ',') .. ']')\n"
               "  assert(#a == n and a[n] == n and a[1] == 1)\n"
               "  assert(json.encode(a) == '[' .. table.concat(parts, ',') .. ']')\n"
               "  local o = json.decode('{' .. table.concat(obj, ',') .. '}')\n"
               "  assert(o[string.format('k%05d', n)] == n)\n"
               "  assert(json.encode(o) == '{' .. table.concat(obj, ',') .. '}')\n"
               "  local nested = json.decode('[' .. string.rep('[1,{\"a\":[]}],', n) .. '0]')\n"
               "  assert(#nested == n + 1 and nested[n][2].a ~= nil)\n"
               "end");
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  vr_error_init(L);
  luaL_requiref(L, "json", luaopen_vmrun_json, 1);
  lua_pop(L, 1);

  test_decode_values(L);
  test_numbers(L);
  test_strings(L);
  test_decode_errors(L);
  test_nesting(L);
  test_encode(L);
  test_encode_errors(L);
  test_cjson_bridge(L);
  test_module(L);
  test_stack_hygiene(L);
  test_sizes(L);
  CHECK(lua_gettop(L) == 0);
  lua_close(L);
  test_memory_errors();
  return CHECK_DONE();
}

/* Included (clang -include) into every file of Debian's Lua 5.4.4 when
 * scripts/build-debian-programs.sh builds the `lua` interpreter for wasm32-wasi.
 *
 * wasi-libc has no setjmp/longjmp (they need Wasm's exception-handling proposal,
 * which Lazuli does not load yet), and Lua raises its errors with longjmp. Without it
 * an error cannot be caught: LUAI_TRY runs its block, LUAI_THROW prints the error
 * and ends the program (lua_wasi.c). So pcall, error() inside pcall and coroutines
 * that yield do not work in this build; bench.lua uses none of them. The build also
 * puts an empty setjmp.h first on the include path, for ldo.c's #include.
 *
 * The rest replaces what WASI lacks: tmpnam here (os.tmpname fails), system and
 * tmpfile in lua_wasi.c (os.execute and io.tmpfile fail). */
#ifndef LUA_WASI_H
#define LUA_WASI_H

struct lua_State;
_Noreturn void lua_wasi_throw(struct lua_State *L, int status);

#define luai_jmpbuf int
#define LUAI_TRY(L, c, a) \
    { a }
#define LUAI_THROW(L, c) lua_wasi_throw((L), (c)->status)

#define LUA_TMPNAMBUFSIZE 32
#define lua_tmpnam(b, e) ((e) = 1)

#endif

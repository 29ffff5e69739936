/* What lua_wasi.h's LUAI_THROW calls, and the two C library functions that Lua links
 * against and wasi-libc lacks (declared there, defined nowhere). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lua.h"

/* Lua's error, reported the way lua.c reports an uncaught one, then the end of the
 * program (there is no longjmp to catch it with). */
_Noreturn void lua_wasi_throw(lua_State *L, int status) {
    if (status == LUA_YIELD) {
        fprintf(stderr, "lua: coroutine.yield needs longjmp, which this build lacks\n");
    } else {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lua: %s (uncatchable in this build, status %d)\n",
                msg ? msg : "(error object is not a string)", status);
    }
    exit(1);
}

/* WASI has no processes: there is no shell, so os.execute() reports failure. */
int system(const char *command) {
    if (command == NULL) {
        return 0;
    }
    errno = ENOSYS;
    return -1;
}

/* WASI has no temporary directory: io.tmpfile() returns nil and this error. */
FILE *tmpfile(void) {
    errno = ENOSYS;
    return NULL;
}

/* The right of listing a directory, held or dropped, and asked for or not when
 * the directory is opened. See rights.h. */
#include "rights.h"

static uint8_t buf[256];
static __wasi_size_t used;

int main(void) {
    __wasi_fd_t dir = open_dir();
    WITH_AND_WITHOUT("fd_readdir", dir, __WASI_RIGHTS_FD_READDIR,
                     __wasi_fd_readdir(dir, buf, sizeof buf, 0, &used));
    OK(__wasi_path_open(PREOPEN, 0, ".", __WASI_OFLAGS_DIRECTORY,
                        DIR_RIGHTS & ~__WASI_RIGHTS_FD_READDIR, ALL_RIGHTS, 0, &dir));
    printf("fd_readdir on a directory opened without it: %s\n",
           errname(__wasi_fd_readdir(dir, buf, sizeof buf, 0, &used)));
    return 0;
}

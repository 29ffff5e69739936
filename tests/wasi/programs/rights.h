/* Helpers of the rights test programs (rights_*.c): each checks, right by right,
 * that a call succeeds on a descriptor holding the right and fails with
 * ENOTCAPABLE once `fd_fdstat_set_rights` has dropped it. The preopened directory
 * is fd 3; raw WASI calls are used because wasi-libc turns ENOTCAPABLE into
 * other errors. */
#ifndef LAZULI_WASI_TEST_RIGHTS_H
#define LAZULI_WASI_TEST_RIGHTS_H

#include "common.h"
#include <wasi/api.h>

#define PREOPEN 3

/* Every right preview 1 defines. */
static const __wasi_rights_t ALL_RIGHTS = ((__wasi_rights_t)1 << 30) - 1;

/* Stops the program if a raw WASI call fails. */
#define OK(call)                                                                 \
    do {                                                                         \
        __wasi_errno_t err_ = (call);                                            \
        if (err_ != 0) {                                                         \
            fprintf(stderr, "line %d: %s: %s\n", __LINE__, #call, errname(err_)); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Opens `path` beneath the preopen with every right it can pass on. */
static inline __wasi_fd_t open_all(const char *path, __wasi_oflags_t oflags) {
    __wasi_fd_t fd;
    OK(__wasi_path_open(PREOPEN, 0, path, oflags, ALL_RIGHTS, ALL_RIGHTS, 0, &fd));
    return fd;
}

/* Every right but fd_write: asking for it on opening a directory is asking to
 * write the directory (EISDIR). */
static const __wasi_rights_t DIR_RIGHTS = ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE;

/* A fresh descriptor for the preopen itself, with all its rights. */
static inline __wasi_fd_t open_dir(void) {
    __wasi_fd_t fd;
    OK(__wasi_path_open(PREOPEN, 0, ".", __WASI_OFLAGS_DIRECTORY, DIR_RIGHTS, ALL_RIGHTS, 0, &fd));
    return fd;
}

/* Drops `base` from the descriptor's rights and `inheriting` from what it passes on. */
static void drop_rights(__wasi_fd_t fd, __wasi_rights_t base, __wasi_rights_t inheriting) {
    __wasi_fdstat_t st;
    OK(__wasi_fd_fdstat_get(fd, &st));
    OK(__wasi_fd_fdstat_set_rights(fd, st.fs_rights_base & ~base,
                                   st.fs_rights_inheriting & ~inheriting));
}

/* Runs `call` on `fd`, drops `right` from it, runs `call` again, and prints
 * both outcomes as `NAME: OK, without RIGHT_NAME: ENOTCAPABLE`. */
#define WITH_AND_WITHOUT(name, fd, right, call)                                  \
    do {                                                                         \
        __wasi_errno_t with_ = (call);                                           \
        drop_rights(fd, right, 0);                                               \
        __wasi_errno_t without_ = (call);                                        \
        printf("%s: %s, without %s: %s\n", name, errname(with_), #right,        \
               errname(without_));                                               \
    } while (0)

#endif

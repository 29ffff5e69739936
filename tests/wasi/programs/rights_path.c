/* Rights of calls on paths beneath a directory: create, open, truncate, link,
 * rename, readlink, symlink, unlink, remove, filestat; and what path_open passes
 * on to the descriptors it makes. See rights.h. */
#include "rights.h"

static __wasi_fd_t opened;
static __wasi_filestat_t st;
static uint8_t buf[64];
static __wasi_size_t n;

static __wasi_errno_t open_in(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags,
                              __wasi_rights_t rights, __wasi_fdflags_t fdflags) {
    __wasi_errno_t err = __wasi_path_open(dir, 0, path, oflags, rights, 0, fdflags, &opened);
    if (err == 0)
        OK(__wasi_fd_close(opened));
    return err;
}

/* Writes "data" to `f.txt`. */
static void fill(void) {
    __wasi_fd_t fd = open_all("f.txt", __WASI_OFLAGS_CREAT);
    const __wasi_ciovec_t ciov = {(const uint8_t *)"data", 4};
    OK(__wasi_fd_write(fd, &ciov, 1, &n));
    OK(__wasi_fd_close(fd));
}

int main(void) {
    __wasi_fd_t dir;
    fill();
    OK(__wasi_path_create_directory(PREOPEN, "gone"));
    OK(__wasi_path_symlink("f.txt", PREOPEN, "sym"));
    OK(__wasi_path_link(PREOPEN, 0, "f.txt", PREOPEN, "r1"));

    dir = open_dir();
    WITH_AND_WITHOUT("path_create_directory", dir, __WASI_RIGHTS_PATH_CREATE_DIRECTORY,
                     __wasi_path_create_directory(dir, "made"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_open", dir, __WASI_RIGHTS_PATH_OPEN,
                     open_in(dir, "f.txt", 0, __WASI_RIGHTS_FD_READ, 0));
    dir = open_dir();
    WITH_AND_WITHOUT("path_open with creat", dir, __WASI_RIGHTS_PATH_CREATE_FILE,
                     open_in(dir, "new.txt", __WASI_OFLAGS_CREAT, 0, 0));
    dir = open_dir();
    WITH_AND_WITHOUT("path_open with trunc", dir, __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE,
                     open_in(dir, "f.txt", __WASI_OFLAGS_TRUNC, 0, 0));
    /* A refused truncation leaves the file as it was. */
    fill();
    open_in(dir, "f.txt", __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_WRITE, 0);
    OK(__wasi_path_filestat_get(PREOPEN, 0, "f.txt", &st));
    printf("size after the refused truncation: %llu\n", (unsigned long long)st.size);

    dir = open_dir();
    WITH_AND_WITHOUT("path_link from", dir, __WASI_RIGHTS_PATH_LINK_SOURCE,
                     __wasi_path_link(dir, 0, "f.txt", PREOPEN, "link1"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_link to", dir, __WASI_RIGHTS_PATH_LINK_TARGET,
                     __wasi_path_link(PREOPEN, 0, "f.txt", dir, "link2"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_rename from", dir, __WASI_RIGHTS_PATH_RENAME_SOURCE,
                     __wasi_path_rename(dir, "r1", PREOPEN, "r2"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_rename to", dir, __WASI_RIGHTS_PATH_RENAME_TARGET,
                     __wasi_path_rename(PREOPEN, "r2", dir, "r3"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_readlink", dir, __WASI_RIGHTS_PATH_READLINK,
                     __wasi_path_readlink(dir, "sym", buf, sizeof buf, &n));
    dir = open_dir();
    WITH_AND_WITHOUT("path_symlink", dir, __WASI_RIGHTS_PATH_SYMLINK,
                     __wasi_path_symlink("f.txt", dir, "sym2"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_unlink_file", dir, __WASI_RIGHTS_PATH_UNLINK_FILE,
                     __wasi_path_unlink_file(dir, "link1"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_remove_directory", dir, __WASI_RIGHTS_PATH_REMOVE_DIRECTORY,
                     __wasi_path_remove_directory(dir, "gone"));
    dir = open_dir();
    WITH_AND_WITHOUT("path_filestat_get", dir, __WASI_RIGHTS_PATH_FILESTAT_GET,
                     __wasi_path_filestat_get(dir, 0, "f.txt", &st));
    dir = open_dir();
    WITH_AND_WITHOUT("path_filestat_set_times", dir, __WASI_RIGHTS_PATH_FILESTAT_SET_TIMES,
                     __wasi_path_filestat_set_times(dir, 0, "f.txt", 0, 0,
                                                    __WASI_FSTFLAGS_MTIM_NOW));
    dir = open_dir();
    WITH_AND_WITHOUT("fd_filestat_get on a directory", dir, __WASI_RIGHTS_FD_FILESTAT_GET,
                     __wasi_fd_filestat_get(dir, &st));
    dir = open_dir();
    WITH_AND_WITHOUT("fd_filestat_set_times on a directory", dir,
                     __WASI_RIGHTS_FD_FILESTAT_SET_TIMES,
                     __wasi_fd_filestat_set_times(dir, 0, 0, __WASI_FSTFLAGS_MTIM_NOW));

    dir = open_dir();
    WITH_AND_WITHOUT("fd_sync on a directory", dir, __WASI_RIGHTS_FD_SYNC, __wasi_fd_sync(dir));
    dir = open_dir();
    WITH_AND_WITHOUT("fd_datasync on a directory", dir, __WASI_RIGHTS_FD_DATASYNC,
                     __wasi_fd_datasync(dir));

    /* What a directory passes on bounds what is opened beneath it. */
    dir = open_dir();
    drop_rights(dir, 0,
                __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SYNC | __WASI_RIGHTS_FD_DATASYNC |
                    __WASI_RIGHTS_FD_ALLOCATE);
    printf("open for writing, fd_write not passed on: %s\n",
           errname(open_in(dir, "f.txt", 0, __WASI_RIGHTS_FD_WRITE, 0)));
    printf("open for appending, fd_write not passed on: %s\n",
           errname(open_in(dir, "f.txt", 0, 0, __WASI_FDFLAGS_APPEND)));
    printf("open with dsync, no sync right passed on: %s\n",
           errname(open_in(dir, "f.txt", 0, __WASI_RIGHTS_FD_READ, __WASI_FDFLAGS_DSYNC)));
    /* Asking for rights that are not passed on (but not to write) gets the rest. */
    OK(__wasi_path_open(dir, 0, "f.txt", 0, DIR_RIGHTS, ALL_RIGHTS, 0, &opened));
    __wasi_fdstat_t fst, dst;
    OK(__wasi_fd_fdstat_get(opened, &fst));
    OK(__wasi_fd_fdstat_get(dir, &dst));
    printf("asking for every other right: fd_read %d, no fd_allocate %d, within what the "
           "directory passes on %d\n",
           (fst.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0,
           (fst.fs_rights_base & __WASI_RIGHTS_FD_ALLOCATE) == 0,
           (fst.fs_rights_base & ~dst.fs_rights_inheriting) == 0 &&
               (fst.fs_rights_inheriting & ~dst.fs_rights_inheriting) == 0);
    __wasi_fd_t sub;
    OK(__wasi_path_open(dir, 0, ".", __WASI_OFLAGS_DIRECTORY, DIR_RIGHTS, ALL_RIGHTS, 0, &sub));
    printf("a directory beneath: open for writing %s\n",
           errname(open_in(sub, "f.txt", 0, __WASI_RIGHTS_FD_WRITE, 0)));
    return 0;
}

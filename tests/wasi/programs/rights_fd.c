/* Rights of calls on an open file: read, write, seek, tell, advise, allocate,
 * datasync, sync, fdstat flags, filestat. See rights.h. */
#include "rights.h"

static char buf[16];
static __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
static const __wasi_ciovec_t ciov = {(const uint8_t *)"data", 4};
static __wasi_size_t n;
static __wasi_filesize_t pos;
static __wasi_filestat_t st;

/* A fresh descriptor for `f.txt`, holding every file right. */
static __wasi_fd_t file(void) { return open_all("f.txt", __WASI_OFLAGS_CREAT); }

int main(void) {
    __wasi_fd_t fd;
    fd = file();
    WITH_AND_WITHOUT("fd_write", fd, __WASI_RIGHTS_FD_WRITE, __wasi_fd_write(fd, &ciov, 1, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_read", fd, __WASI_RIGHTS_FD_READ, __wasi_fd_read(fd, &iov, 1, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_pread", fd, __WASI_RIGHTS_FD_READ, __wasi_fd_pread(fd, &iov, 1, 0, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_pread", fd, __WASI_RIGHTS_FD_SEEK, __wasi_fd_pread(fd, &iov, 1, 0, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_pwrite", fd, __WASI_RIGHTS_FD_WRITE, __wasi_fd_pwrite(fd, &ciov, 1, 0, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_pwrite", fd, __WASI_RIGHTS_FD_SEEK, __wasi_fd_pwrite(fd, &ciov, 1, 0, &n));
    fd = file();
    WITH_AND_WITHOUT("fd_seek", fd, __WASI_RIGHTS_FD_SEEK,
                     __wasi_fd_seek(fd, 1, __WASI_WHENCE_SET, &pos));
    /* Asking where the offset is needs only fd_tell, which fd_seek implies. */
    fd = file();
    drop_rights(fd, __WASI_RIGHTS_FD_SEEK, 0);
    WITH_AND_WITHOUT("fd_seek to where it is", fd, __WASI_RIGHTS_FD_TELL,
                     __wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos));
    fd = file();
    WITH_AND_WITHOUT("fd_tell", fd, __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_SEEK,
                     __wasi_fd_tell(fd, &pos));
    fd = file();
    drop_rights(fd, __WASI_RIGHTS_FD_TELL, 0);
    printf("fd_tell with fd_seek only: %s\n", errname(__wasi_fd_tell(fd, &pos)));
    fd = file();
    WITH_AND_WITHOUT("fd_advise", fd, __WASI_RIGHTS_FD_ADVISE,
                     __wasi_fd_advise(fd, 0, 4, __WASI_ADVICE_SEQUENTIAL));
    fd = file();
    WITH_AND_WITHOUT("fd_allocate", fd, __WASI_RIGHTS_FD_ALLOCATE, __wasi_fd_allocate(fd, 0, 8));
    fd = file();
    WITH_AND_WITHOUT("fd_datasync", fd, __WASI_RIGHTS_FD_DATASYNC, __wasi_fd_datasync(fd));
    fd = file();
    WITH_AND_WITHOUT("fd_sync", fd, __WASI_RIGHTS_FD_SYNC, __wasi_fd_sync(fd));
    fd = file();
    WITH_AND_WITHOUT("fd_fdstat_set_flags", fd, __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS,
                     __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND));
    fd = file();
    WITH_AND_WITHOUT("fd_filestat_get", fd, __WASI_RIGHTS_FD_FILESTAT_GET,
                     __wasi_fd_filestat_get(fd, &st));
    fd = file();
    WITH_AND_WITHOUT("fd_filestat_set_size", fd, __WASI_RIGHTS_FD_FILESTAT_SET_SIZE,
                     __wasi_fd_filestat_set_size(fd, 2));
    fd = file();
    WITH_AND_WITHOUT("fd_filestat_set_times", fd, __WASI_RIGHTS_FD_FILESTAT_SET_TIMES,
                     __wasi_fd_filestat_set_times(fd, 0, 0, __WASI_FSTFLAGS_MTIM_NOW));

    /* Rights only shrink; fdstat, close and renumber need none. */
    fd = file();
    drop_rights(fd, __WASI_RIGHTS_FD_READ, 0);
    __wasi_fdstat_t fst;
    OK(__wasi_fd_fdstat_get(fd, &fst));
    printf("giving a dropped right back: %s\n",
           errname(__wasi_fd_fdstat_set_rights(fd, fst.fs_rights_base | __WASI_RIGHTS_FD_READ,
                                               fst.fs_rights_inheriting)));
    OK(__wasi_fd_fdstat_set_rights(fd, 0, 0));
    printf("with no rights: fdstat %s", errname(__wasi_fd_fdstat_get(fd, &fst)));
    printf(", rights %llu, close %s\n", (unsigned long long)fst.fs_rights_base,
           errname(__wasi_fd_close(fd)));
    return 0;
}

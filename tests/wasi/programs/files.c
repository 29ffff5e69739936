/* File operations in the preopened directory named by the argument: create, write,
 * read, seek, stat, truncate, append, times, and the errors of misuse. Leaves
 * `data.txt` and `written-by-guest.txt` behind for the host to check. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[512], other[512], buf[64];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.txt", dir);

    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello, ", 7) == 7);
    CHECK(write(fd, "world\n", 6) == 6);
    CHECK(close(fd) == 0);
    printf("created data.txt\n");

    CHECK(open(path, O_CREAT | O_EXCL | O_WRONLY, 0644) < 0);
    printf("exclusive create of an existing file: %s\n", errname(errno));

    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf) == 13);
    printf("read: %s", buf);
    CHECK(read(fd, buf, sizeof buf) == 0);
    CHECK(write(fd, "x", 1) < 0);
    printf("write to a read-only descriptor: %s\n", errname(errno));
    CHECK(lseek(fd, 7, SEEK_SET) == 7);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, 5) == 5);
    printf("after seek: %s\n", buf);
    CHECK(lseek(fd, 0, SEEK_CUR) == 12);
    CHECK(lseek(fd, -6, SEEK_END) == 7);
    CHECK(lseek(fd, -100, SEEK_SET) < 0);
    printf("seek before the start: %s\n", errname(errno));
    memset(buf, 0, sizeof buf);
    CHECK(pread(fd, buf, 5, 0) == 5);
    printf("pread: %s\n", buf);
    CHECK(lseek(fd, 0, SEEK_CUR) == 7);
    CHECK(fstat(fd, &st) == 0);
    printf("fstat: size %lld, regular file %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    CHECK(close(fd) == 0);
    CHECK(close(fd) < 0);
    printf("close twice: %s\n", errname(errno));

    fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
    CHECK(ftruncate(fd, 5) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
    CHECK(ftruncate(fd, 10) == 0);
    memset(buf, 'x', sizeof buf);
    CHECK(pread(fd, buf, sizeof buf, 0) == 10);
    CHECK(buf[5] == 0 && buf[9] == 0);
    CHECK(ftruncate(fd, 5) == 0);
    CHECK(fsync(fd) == 0);
    CHECK(fdatasync(fd) == 0);
    CHECK(posix_fadvise(fd, 0, 5, POSIX_FADV_SEQUENTIAL) == 0);
    CHECK(close(fd) == 0);
    printf("pwrite, truncate, extend, sync: ok\n");

    fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "!\n", 2) == 2);
    CHECK(close(fd) == 0);
    CHECK(stat(path, &st) == 0);
    printf("after append: size %lld\n", (long long)st.st_size);

    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    CHECK(fgets(buf, sizeof buf, f) != NULL);
    CHECK(fclose(f) == 0);
    printf("contents: %s", buf);

    struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 0},
                                {.tv_sec = 1234567890, .tv_nsec = 500}};
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
    CHECK(stat(path, &st) == 0);
    printf("times: atime %lld mtime %lld.%09ld\n", (long long)st.st_atim.tv_sec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

    snprintf(other, sizeof other, "%s/missing.txt", dir);
    CHECK(open(other, O_RDONLY) < 0);
    printf("open a missing file: %s\n", errname(errno));
    CHECK(stat(other, &st) < 0);
    printf("stat a missing file: %s\n", errname(errno));
    CHECK(open(path, O_RDONLY | O_DIRECTORY) < 0);
    printf("O_DIRECTORY on a file: %s\n", errname(errno));
    snprintf(other, sizeof other, "%s/data.txt/inner", dir);
    CHECK(open(other, O_RDONLY) < 0);
    printf("a file as a directory: %s\n", errname(errno));
    CHECK(open(dir, O_WRONLY) < 0);
    printf("a directory for writing: %s\n", errname(errno));

    snprintf(other, sizeof other, "%s/written-by-guest.txt", dir);
    f = fopen(other, "w");
    CHECK(f != NULL);
    CHECK(fputs("guest was here\n", f) >= 0);
    CHECK(fclose(f) == 0);
    printf("done\n");
    return 0;
}

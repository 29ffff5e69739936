/* Symbolic links inside the preopened directory named by the argument. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base;

static const char *at(const char *rel) {
    static char bufs[4][512];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, 512, "%s/%s", base, rel);
    return p;
}

static void show(const char *rel) {
    char buf[128];
    int fd = open(at(rel), O_RDONLY);
    if (fd < 0) {
        printf("read %s: %s\n", rel, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    CHECK(n >= 0);
    buf[n] = 0;
    CHECK(close(fd) == 0);
    printf("read %s: %s", rel, buf);
}

int main(int argc, char **argv) {
    base = argc > 1 ? argv[1] : ".";
    struct stat st;
    char buf[128];

    int fd = open(at("target.txt"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "target contents\n", 16) == 16 && close(fd) == 0);

    CHECK(symlink("target.txt", at("link")) == 0);
    ssize_t n = readlink(at("link"), buf, sizeof buf);
    CHECK(n > 0);
    printf("readlink link: %.*s\n", (int)n, buf);
    n = readlink(at("link"), buf, 3);
    printf("readlink into 3 bytes: %.*s\n", (int)n, buf);
    show("link");
    CHECK(lstat(at("link"), &st) == 0);
    printf("lstat link: symlink %d\n", S_ISLNK(st.st_mode));
    CHECK(stat(at("link"), &st) == 0);
    printf("stat link: regular file %d, size %lld\n", S_ISREG(st.st_mode), (long long)st.st_size);

    CHECK(mkdir(at("d"), 0755) == 0);
    CHECK(symlink("d", at("dlink")) == 0);
    fd = open(at("dlink/through.txt"), O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && write(fd, "made through a link\n", 20) == 20 && close(fd) == 0);
    show("d/through.txt");

    CHECK(symlink("d/../target.txt", at("dotdot-link")) == 0);
    show("dotdot-link");
    CHECK(symlink("../target.txt", at("d/up-link")) == 0);
    show("d/up-link");

    CHECK(symlink("missing", at("dangling")) == 0);
    show("dangling");
    CHECK(lstat(at("dangling"), &st) == 0);
    printf("lstat dangling: symlink %d\n", S_ISLNK(st.st_mode));

    CHECK(open(at("link"), O_RDONLY | O_NOFOLLOW) < 0);
    printf("O_NOFOLLOW on a link: %s\n", errname(errno));
    CHECK(symlink("target.txt", at("link")) < 0);
    printf("symlink over an existing name: %s\n", errname(errno));
    CHECK(readlink(at("target.txt"), buf, sizeof buf) < 0);
    printf("readlink a regular file: %s\n", errname(errno));

    CHECK(link(at("target.txt"), at("hard.txt")) == 0);
    CHECK(stat(at("hard.txt"), &st) == 0);
    printf("hard link: %lld links\n", (long long)st.st_nlink);

    CHECK(unlink(at("link")) == 0);
    CHECK(stat(at("target.txt"), &st) == 0);
    printf("unlink link: target remains, size %lld\n", (long long)st.st_size);
    return 0;
}

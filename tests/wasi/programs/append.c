/* fd_pwrite on a descriptor in append mode (set when opening, or later with
 * fcntl): the bytes go where the host's pwrite puts them (Linux appends), and the
 * descriptor's offset stays where it was. Prints the offset and the contents for
 * the host to compare with the same steps done natively. */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

static void show(const char *how, int fd) {
    char buf[32] = {0};
    CHECK(lseek(fd, 1, SEEK_SET) == 1);
    CHECK(pwrite(fd, "XY", 2, 0) == 2);
    off_t after = lseek(fd, 0, SEEK_CUR);
    CHECK(pread(fd, buf, sizeof buf - 1, 0) >= 0);
    printf("%s: offset %lld, contents %s\n", how, (long long)after, buf);
    CHECK(close(fd) == 0);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[512];
    snprintf(path, sizeof path, "%s/append.txt", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "abc", 3) == 3);
    show("opened with O_APPEND", fd);

    fd = open(path, O_RDWR | O_TRUNC);
    CHECK(fd >= 0);
    CHECK(write(fd, "abc", 3) == 3);
    CHECK(fcntl(fd, F_SETFL, O_APPEND) == 0);
    show("O_APPEND set later", fd);
    return 0;
}

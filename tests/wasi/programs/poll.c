/* poll(2) over WASI's poll_oneoff. `timeout`: a 50 ms poll of nothing; `stdin`:
 * waits up to 10 s for stdin, then reads a line; `file DIR`: a regular file in DIR
 * is ready at once for reading and writing. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "timeout";
    if (strcmp(mode, "timeout") == 0) {
        int64_t start = now_ms();
        CHECK(poll(NULL, 0, 50) == 0);
        int64_t took = now_ms() - start;
        CHECK(took >= 50 && took < 10000);
        printf("poll timed out after at least 50 ms\n");
    } else if (strcmp(mode, "stdin") == 0) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, 10000);
        CHECK(n == 1 && (p.revents & POLLIN));
        char line[128];
        CHECK(fgets(line, sizeof line, stdin) != NULL);
        printf("stdin ready: %s", line);
    } else if (strcmp(mode, "file") == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/poll.txt", argc > 2 ? argv[2] : ".");
        int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
        CHECK(fd >= 0 && write(fd, "abc", 3) == 3 && lseek(fd, 0, SEEK_SET) == 0);
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = fd, .events = POLLOUT}};
        int n = poll(p, 2, 10000);
        CHECK(n == 2 && (p[0].revents & POLLIN) && (p[1].revents & POLLOUT));
        CHECK(close(fd) == 0 && unlink(path) == 0);
        printf("file ready for reading and writing\n");
    }
    return 0;
}

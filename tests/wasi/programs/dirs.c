/* Directories in the preopened directory named by the argument: mkdir, listing,
 * rename, unlink, rmdir, and a directory too big for one fd_readdir buffer. */
#include "common.h"
#include <dirent.h>
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

static void touch(const char *rel) {
    int fd = open(at(rel), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, rel, strlen(rel)) == (ssize_t)strlen(rel));
    CHECK(close(fd) == 0);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the sorted entries of `rel`, `/` after directories; returns their count. */
static int list(const char *rel, int print) {
    DIR *d = opendir(at(rel));
    CHECK(d != NULL);
    char *names[1024];
    int n = 0, dots = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            dots++;
            continue;
        }
        CHECK(n < 1024);
        names[n] = malloc(strlen(e->d_name) + 2);
        strcpy(names[n], e->d_name);
        if (e->d_type == DT_DIR)
            strcat(names[n], "/");
        n++;
    }
    CHECK(closedir(d) == 0);
    CHECK(dots == 2);
    qsort(names, n, sizeof names[0], cmp);
    if (print) {
        printf("%s:", rel);
        for (int i = 0; i < n; i++)
            printf(" %s", names[i]);
        printf("\n");
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    return n;
}

int main(int argc, char **argv) {
    base = argc > 1 ? argv[1] : ".";
    CHECK(mkdir(at("sub"), 0755) == 0);
    CHECK(mkdir(at("sub"), 0755) < 0);
    printf("mkdir an existing directory: %s\n", errname(errno));
    touch("sub/a.txt");
    touch("sub/b.txt");
    CHECK(mkdir(at("sub/inner"), 0755) == 0);
    list("sub", 1);

    CHECK(rename(at("sub/a.txt"), at("sub/inner/c.txt")) == 0);
    CHECK(rename(at("sub/inner"), at("moved")) == 0);
    list("sub", 1);
    list("moved", 1);
    CHECK(rename(at("nothing"), at("else")) < 0);
    printf("rename a missing file: %s\n", errname(errno));

    CHECK(rmdir(at("sub")) < 0);
    printf("rmdir a non-empty directory: %s\n", errname(errno));
    CHECK(unlink(at("moved")) < 0);
    printf("unlink a directory: %s\n", errname(errno));
    CHECK(rmdir(at("moved/c.txt")) < 0);
    printf("rmdir a file: %s\n", errname(errno));
    CHECK(unlink(at("sub/b.txt")) == 0);
    CHECK(unlink(at("sub/b.txt")) < 0);
    printf("unlink twice: %s\n", errname(errno));
    CHECK(rmdir(at("sub")) == 0);

    CHECK(mkdir(at("many"), 0755) == 0);
    for (int i = 0; i < 300; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/file-with-a-longish-name-%03d", i);
        touch(name);
    }
    printf("many: %d entries\n", list("many", 0));
    for (int i = 0; i < 300; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/file-with-a-longish-name-%03d", i);
        CHECK(unlink(at(name)) == 0);
    }
    CHECK(rmdir(at("many")) == 0);
    list(".", 1);
    return 0;
}

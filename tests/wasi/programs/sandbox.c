/* Tries to leave the preopened directory (fd 3, named by the second argument) in
 * the way the first argument names, printing what each attempt returned. Raw WASI
 * calls are used where wasi-libc would refuse before asking the host. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

#define PREOPEN 3

/* path_open with an explicit length, so that the path may contain NUL. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open")))
int32_t raw_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t path_len,
                      int32_t oflags, int64_t base, int64_t inheriting, int32_t fdflags,
                      int32_t opened);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_create_directory")))
int32_t raw_path_create_directory(int32_t fd, int32_t path, int32_t path_len);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_filestat_get")))
int32_t raw_path_filestat_get(int32_t fd, int32_t flags, int32_t path, int32_t path_len,
                              int32_t buf);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_unlink_file")))
int32_t raw_path_unlink_file(int32_t fd, int32_t path, int32_t path_len);

static const char *base;
static const __wasi_rights_t ALL = ~(__wasi_rights_t)0 >> 34;

static const char *at(const char *rel) {
    static char bufs[4][512];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, 512, "%s/%s", base, rel);
    return p;
}

/* Reports an attempt that returns a (libc) result and sets errno on failure. */
static void report(const char *what, int result) {
    printf("%s: %s\n", what, result < 0 ? errname(errno) : "succeeded");
}

/* Reports a raw WASI call's errno (WASI numbers are libc's errno values). */
static void report_wasi(const char *what, int err) {
    printf("%s: %s\n", what, err == 0 ? "succeeded" : errname(err));
}

static int open_read(const char *rel) { return open(at(rel), O_RDONLY); }

static int try_read(const char *rel) {
    int fd = open_read(rel);
    if (fd >= 0) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("  !! read %zd bytes through %s\n", n, rel);
        close(fd);
    }
    return fd;
}

/* Opens `path` beneath the preopen: for reading, or for writing with O_CREAT. */
static int wasi_open(const char *path, __wasi_oflags_t oflags, int follow) {
    __wasi_fd_t fd;
    __wasi_rights_t rights = (oflags & __WASI_OFLAGS_CREAT)
                                 ? ALL
                                 : __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_READDIR;
    return __wasi_path_open(PREOPEN, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, path,
                            oflags, rights, ALL, 0, &fd);
}

/* Common attempts through one escaping path `rel` (relative to the preopen) that
 * names an existing outside file, and `dir_rel` that names an outside directory.
 * When `rel` is itself a symlink, unlinking, renaming or linking it acts on the
 * link, inside the sandbox, so those are left out. */
static void attempts(const char *rel, const char *dir_rel, int rel_is_link) {
    char what[256], inside[256];
    snprintf(what, sizeof what, "read %s", rel);
    report(what, try_read(rel));
    snprintf(what, sizeof what, "write %s", rel);
    report(what, open(at(rel), O_WRONLY | O_TRUNC));
    snprintf(what, sizeof what, "append %s", rel);
    report(what, open(at(rel), O_WRONLY | O_APPEND));
    struct stat st;
    snprintf(what, sizeof what, "stat %s", rel);
    report(what, stat(at(rel), &st));
    snprintf(inside, sizeof inside, "%s/created.txt", dir_rel);
    snprintf(what, sizeof what, "create %s", inside);
    report(what, open(at(inside), O_CREAT | O_WRONLY, 0644));
    snprintf(inside, sizeof inside, "%s/newdir", dir_rel);
    snprintf(what, sizeof what, "mkdir %s", inside);
    report(what, mkdir(at(inside), 0755));
    snprintf(what, sizeof what, "opendir %s", dir_rel);
    DIR *d = opendir(at(dir_rel));
    report(what, d ? 0 : -1);
    if (d)
        closedir(d);
    snprintf(inside, sizeof inside, "%s/moved.txt", dir_rel);
    snprintf(what, sizeof what, "rename inside.txt to %s", inside);
    report(what, rename(at("inside.txt"), at(inside)));
    snprintf(inside, sizeof inside, "%s/hard.txt", dir_rel);
    snprintf(what, sizeof what, "link inside.txt to %s", inside);
    report(what, link(at("inside.txt"), at(inside)));
    snprintf(inside, sizeof inside, "%s/link", dir_rel);
    snprintf(what, sizeof what, "symlink inside.txt as %s", inside);
    report(what, symlink("inside.txt", at(inside)));
    if (rel_is_link)
        return;
    snprintf(what, sizeof what, "rename %s to inside-copy.txt", rel);
    report(what, rename(at(rel), at("inside-copy.txt")));
    snprintf(what, sizeof what, "link %s to hard.txt", rel);
    report(what, link(at(rel), at("hard.txt")));
    snprintf(what, sizeof what, "unlink %s", rel);
    report(what, unlink(at(rel)));
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    base = argc > 2 ? argv[2] : "/sandbox";

    if (strcmp(mode, "dotdot") == 0) {
        attempts("../outside/secret.txt", "../outside", 0);
        attempts("sub/../../outside/secret.txt", "sub/../../outside", 0);
        report_wasi("wasi open ..", wasi_open("..", __WASI_OFLAGS_DIRECTORY, 1));
        report_wasi("wasi open ../outside/secret.txt", wasi_open("../outside/secret.txt", 0, 1));
        report_wasi("wasi create ../created.txt",
                    wasi_open("../created.txt", __WASI_OFLAGS_CREAT, 1));
        report_wasi("wasi mkdir ../newdir", __wasi_path_create_directory(PREOPEN, "../newdir"));
        report_wasi("wasi open sub/../inside.txt (stays inside)",
                    wasi_open("sub/../inside.txt", 0, 1));
    } else if (strcmp(mode, "absolute") == 0) {
        /* The host path of the outside directory is the third argument. */
        const char *outside = argc > 3 ? argv[3] : "/tmp";
        char secret[512], created[512];
        snprintf(secret, sizeof secret, "%s/secret.txt", outside);
        snprintf(created, sizeof created, "%s/created.txt", outside);
        report_wasi("wasi open /", wasi_open("/", __WASI_OFLAGS_DIRECTORY, 1));
        report_wasi("wasi open /etc/passwd", wasi_open("/etc/passwd", 0, 1));
        report_wasi("wasi open OUTSIDE/secret.txt", wasi_open(secret, 0, 1));
        report_wasi("wasi create OUTSIDE/created.txt",
                    wasi_open(created, __WASI_OFLAGS_CREAT, 1));
        report_wasi("wasi mkdir /newdir", __wasi_path_create_directory(PREOPEN, "/newdir"));
        __wasi_filestat_t st;
        report_wasi("wasi stat OUTSIDE/secret.txt", __wasi_path_filestat_get(PREOPEN, 0, secret, &st));
        report_wasi("wasi unlink OUTSIDE/secret.txt", __wasi_path_unlink_file(PREOPEN, secret));
        report_wasi("wasi symlink /etc/passwd", __wasi_path_symlink("/etc/passwd", PREOPEN, "abs-made"));
        report_wasi("wasi rename inside.txt to /moved.txt",
                    __wasi_path_rename(PREOPEN, "inside.txt", PREOPEN, "/moved.txt"));
        /* Through libc: a path outside every preopen never reaches the host. */
        report("libc open OUTSIDE/secret.txt", open(secret, O_RDONLY));
    } else if (strcmp(mode, "symlink-absolute") == 0) {
        /* The host made abs-file -> OUTSIDE/secret.txt and abs-dir -> OUTSIDE. */
        attempts("abs-file", "abs-dir", 1);
        attempts("abs-dir/secret.txt", "abs-dir", 0);
        char buf[256];
        report("readlink abs-file", (int)readlink(at("abs-file"), buf, sizeof buf));
        struct stat st;
        report("lstat abs-file", lstat(at("abs-file"), &st));
        report("symlink /etc/passwd as mine", symlink("/etc/passwd", at("mine")));
        report_wasi("wasi open abs-file without following", wasi_open("abs-file", 0, 0));
    } else if (strcmp(mode, "symlink-relative") == 0) {
        /* The host made rel-file -> ../outside/secret.txt and rel-dir -> ../outside;
         * the guest makes its own as well. */
        attempts("rel-file", "rel-dir", 1);
        attempts("rel-dir/secret.txt", "rel-dir", 0);
        report("symlink ../outside/secret.txt as guest-file",
               symlink("../outside/secret.txt", at("guest-file")));
        report("symlink ../outside as guest-dir", symlink("../outside", at("guest-dir")));
        report("symlink sub/../../outside as guest-deep", symlink("sub/../../outside", at("guest-deep")));
        attempts("guest-file", "guest-dir", 1);
        attempts("guest-deep/secret.txt", "guest-deep", 0);
        char buf[256];
        ssize_t n = readlink(at("guest-file"), buf, sizeof buf);
        printf("readlink guest-file: %.*s\n", n < 0 ? 0 : (int)n, buf);
    } else if (strcmp(mode, "loop") == 0) {
        /* The host made loop-a -> loop-b, loop-b -> loop-a and self -> self. */
        report("read loop-a", try_read("loop-a"));
        report("read self", try_read("self"));
        report("create loop-a/x", open(at("loop-a/x"), O_CREAT | O_WRONLY, 0644));
        report("write self", open(at("self"), O_CREAT | O_WRONLY, 0644));
        struct stat st;
        report("stat loop-b", stat(at("loop-b"), &st));
        report("lstat loop-b", lstat(at("loop-b"), &st));
        report("opendir self", opendir(at("self")) ? 0 : -1);
        report("symlink guest-a -> guest-b", symlink("guest-b", at("guest-a")));
        report("symlink guest-b -> guest-a", symlink("guest-a", at("guest-b")));
        report("read guest-a", try_read("guest-a"));
        report("mkdir guest-a/sub", mkdir(at("guest-a/sub"), 0755));
    } else if (strcmp(mode, "nul") == 0) {
        static const char paths[][32] = {"inside.txt\0", "inside.txt\0../../outside",
                                         "\0", "new\0file.txt"};
        static const int lens[] = {11, 24, 1, 12};
        __wasi_fd_t fd;
        __wasi_filestat_t st;
        for (int i = 0; i < 4; i++) {
            char what[64];
            snprintf(what, sizeof what, "path %d: open", i);
            report_wasi(what, raw_path_open(PREOPEN, 1, (int32_t)(uintptr_t)paths[i], lens[i], 0,
                                            ALL, ALL, 0, (int32_t)(uintptr_t)&fd));
            snprintf(what, sizeof what, "path %d: create", i);
            report_wasi(what, raw_path_open(PREOPEN, 1, (int32_t)(uintptr_t)paths[i], lens[i],
                                            __WASI_OFLAGS_CREAT, ALL, ALL, 0,
                                            (int32_t)(uintptr_t)&fd));
            snprintf(what, sizeof what, "path %d: mkdir", i);
            report_wasi(what, raw_path_create_directory(PREOPEN, (int32_t)(uintptr_t)paths[i],
                                                        lens[i]));
            snprintf(what, sizeof what, "path %d: stat", i);
            report_wasi(what, raw_path_filestat_get(PREOPEN, 1, (int32_t)(uintptr_t)paths[i],
                                                    lens[i], (int32_t)(uintptr_t)&st));
            snprintf(what, sizeof what, "path %d: unlink", i);
            report_wasi(what, raw_path_unlink_file(PREOPEN, (int32_t)(uintptr_t)paths[i], lens[i]));
        }
        report_wasi("invalid UTF-8: open",
                    raw_path_open(PREOPEN, 1, (int32_t)(uintptr_t) "bad\xff", 4, 0, ALL, ALL, 0,
                                  (int32_t)(uintptr_t)&fd));
    } else {
        fprintf(stderr, "unknown mode `%s`\n", mode);
        return 2;
    }
    return 0;
}

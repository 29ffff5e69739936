/* The rights of waiting for a descriptor with poll_oneoff: poll_fd_readwrite with
 * fd_read to wait for reading, with fd_write to wait for writing. A missing right
 * is the event's error. See rights.h. */
#include "rights.h"

/* Waits for `fd` to be ready for `type`; returns the event's error. */
static __wasi_errno_t wait_for(__wasi_fd_t fd, __wasi_eventtype_t type) {
    __wasi_subscription_t sub = {.userdata = 7, .u = {.tag = type}};
    if (type == __WASI_EVENTTYPE_FD_READ)
        sub.u.u.fd_read.file_descriptor = fd;
    else
        sub.u.u.fd_write.file_descriptor = fd;
    __wasi_event_t event;
    __wasi_size_t n;
    OK(__wasi_poll_oneoff(&sub, &event, 1, &n));
    CHECK(n == 1 && event.userdata == 7 && event.type == type);
    return event.error;
}

static __wasi_fd_t file(void) { return open_all("f.txt", __WASI_OFLAGS_CREAT); }

int main(void) {
    __wasi_fd_t fd;
    fd = file();
    WITH_AND_WITHOUT("poll for reading", fd, __WASI_RIGHTS_POLL_FD_READWRITE,
                     wait_for(fd, __WASI_EVENTTYPE_FD_READ));
    fd = file();
    WITH_AND_WITHOUT("poll for reading", fd, __WASI_RIGHTS_FD_READ,
                     wait_for(fd, __WASI_EVENTTYPE_FD_READ));
    fd = file();
    WITH_AND_WITHOUT("poll for writing", fd, __WASI_RIGHTS_POLL_FD_READWRITE,
                     wait_for(fd, __WASI_EVENTTYPE_FD_WRITE));
    fd = file();
    WITH_AND_WITHOUT("poll for writing", fd, __WASI_RIGHTS_FD_WRITE,
                     wait_for(fd, __WASI_EVENTTYPE_FD_WRITE));
    return 0;
}

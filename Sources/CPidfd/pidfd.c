#define _GNU_SOURCE
#include "pidfd.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int reconcile_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int reconcile_pidfd_exited(int fd) {
    struct pollfd entry = {.fd = fd, .events = POLLIN, .revents = 0};
    int ready = poll(&entry, 1, 0);
    if (ready < 0) return -1;
    return ready > 0 && (entry.revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

#ifndef RECONCILE_PIDFD_H
#define RECONCILE_PIDFD_H

/// A pidfd for `pid` (Linux 5.3+; syscall(2) is variadic, so it is called from C), close-on-exec.
/// Returns -1 with errno set when the process does not exist or the kernel has no pidfd_open.
int reconcile_pidfd_open(int pid);

/// 1 when the process behind `fd` has terminated (its pidfd polls readable), 0 while it runs,
/// -1 when poll(2) failed.
int reconcile_pidfd_exited(int fd);

#endif

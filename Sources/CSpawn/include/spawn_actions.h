#ifndef RECONCILE_SPAWN_ACTIONS_H
#define RECONCILE_SPAWN_ACTIONS_H

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes every descriptor
/// from `lowest` up. Returns 0 or an errno value.
int reconcile_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int lowest);

/// posix_spawn_file_actions_addchdir_np (glibc 2.29+): the child starts in `directory`.
int reconcile_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *directory);

/// The POSIX_SPAWN_SETSID flag (glibc 2.26+): the child starts a new session.
short reconcile_spawn_setsid_flag(void);

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory, never on a disk. -1 with errno.
int reconcile_memfd_create(const char *name);

#endif

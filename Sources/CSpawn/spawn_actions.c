#define _GNU_SOURCE
#include "spawn_actions.h"

#include <errno.h>
#include <sys/mman.h>

int reconcile_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
#else
    (void)actions;
    (void)lowest;
    return ENOSYS;
#endif
}

int reconcile_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *directory) {
    return posix_spawn_file_actions_addchdir_np(actions, directory);
}

short reconcile_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int reconcile_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

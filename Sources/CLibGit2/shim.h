#ifndef RECONCILE_CLIBGIT2_SHIM_H
#define RECONCILE_CLIBGIT2_SHIM_H

#include <git2.h>

#endif

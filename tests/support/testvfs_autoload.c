/* SPDX-License-Identifier: MIT */
/*
 * Linked only into evstreamd_testvfs (the daemon built for tests): installs the test VFS shim
 * as SQLite's default before main() when $EVS_TESTVFS_CTL names a control file, so that
 * integration tests can inject storage faults into the real daemon. The evstreamd that is
 * built and installed never contains this file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "evs_testvfs.h"

static void __attribute__((constructor)) testvfs_autoload(void)
{
    if (getenv("EVS_TESTVFS_CTL") != NULL && evs_testvfs_register(true) != 0) {
        fprintf(stderr, "evstreamd_testvfs: cannot register the test VFS\n");
        exit(70);
    }
}

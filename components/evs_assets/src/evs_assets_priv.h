// SPDX-License-Identifier: MIT
// The table generated at build time (assets_gen.c), sorted by path, searched by evs_assets.c.
#ifndef EVS_ASSETS_PRIV_H
#define EVS_ASSETS_PRIV_H

#include <stddef.h>
#include "evs_assets.h"

extern const evs_asset_t evs__assets[];
extern const size_t evs__assets_n;

#endif

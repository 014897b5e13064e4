/* SPDX-License-Identifier: MIT */
/* The facade's internals for its own unit tests and benchmarks (never for applications: they
 * see only evstream.h). */
#pragma once

#include "evs_api.h"
#include "evs_store.h"
#include "evstream.h"

/** The instance's service and store (borrowed). */
evs_api_t *evs__get_api(evs_t *evs);
evs_store_t *evs__get_store(evs_t *evs);

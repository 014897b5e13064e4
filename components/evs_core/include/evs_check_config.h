/* SPDX-License-Identifier: MIT */
/**
 * @file evs_check_config.h
 * @brief The one place where impossible Kconfig combinations stop the build.
 */
#pragma once

#include "sdkconfig.h"

#if (CONFIG_EVS_RING_SLOTS & (CONFIG_EVS_RING_SLOTS - 1)) != 0
#error "CONFIG_EVS_RING_SLOTS must be a power of two"
#endif
#if CONFIG_EVS_RING_CELL_SIZE == 0
#if CONFIG_EVS_CLIENT_BACKLOG >= CONFIG_EVS_RING_SLOTS
#error "CONFIG_EVS_CLIENT_BACKLOG must be smaller than CONFIG_EVS_RING_SLOTS"
#endif
#else
#define EVS__RING_CELLS                                                                            \
    ((CONFIG_EVS_RING_SLOTS * CONFIG_EVS_RING_SLOT_SIZE) / CONFIG_EVS_RING_CELL_SIZE)
#if (CONFIG_EVS_RING_SLOTS * CONFIG_EVS_RING_SLOT_SIZE) % CONFIG_EVS_RING_CELL_SIZE != 0 ||        \
    (EVS__RING_CELLS & (EVS__RING_CELLS - 1)) != 0
#error                                                                                             \
    "CONFIG_EVS_RING_SLOTS x CONFIG_EVS_RING_SLOT_SIZE / CONFIG_EVS_RING_CELL_SIZE must be a power of two"
#endif
#if (CONFIG_EVS_RING_CELL_SIZE % 8) != 0 || CONFIG_EVS_RING_CELL_SIZE < 256
#error "CONFIG_EVS_RING_CELL_SIZE must be a multiple of 8, at least 256"
#endif
#if CONFIG_EVS_CLIENT_BACKLOG >= EVS__RING_CELLS
#error                                                                                             \
    "CONFIG_EVS_CLIENT_BACKLOG must be smaller than the ring's cells (slots x slot size / cell size)"
#endif
#endif
#if (CONFIG_EVS_RING_SLOT_SIZE % 8) != 0
#error "CONFIG_EVS_RING_SLOT_SIZE must be a multiple of 8"
#endif
#if CONFIG_EVS_RING_SLOT_SIZE < CONFIG_EVS_EVENT_MAX_BYTES + 512
#error "CONFIG_EVS_RING_SLOT_SIZE must be >= CONFIG_EVS_EVENT_MAX_BYTES + 512 (event + envelope)"
#endif
#if CONFIG_EVS_STREAM_WBUF_SIZE < CONFIG_EVS_RING_SLOT_SIZE + 256
#error "CONFIG_EVS_STREAM_WBUF_SIZE must exceed CONFIG_EVS_RING_SLOT_SIZE + 256 (framing)"
#endif
#if CONFIG_EVS_MESSAGE_MAX_BYTES >= CONFIG_EVS_EVENT_MAX_BYTES
#error "CONFIG_EVS_MESSAGE_MAX_BYTES must be smaller than CONFIG_EVS_EVENT_MAX_BYTES"
#endif
#if CONFIG_EVS_HTTP_MAX_BODY < CONFIG_EVS_EVENT_MAX_BYTES
#error "CONFIG_EVS_HTTP_MAX_BODY must hold at least one event (CONFIG_EVS_EVENT_MAX_BYTES)"
#endif
#if CONFIG_EVS_FCGI_THREADS < 3
#error "CONFIG_EVS_FCGI_THREADS must be at least 3 (two are kept for REST)"
#endif
#if CONFIG_EVS_HUB_MAX_ROOMS > CONFIG_EVS_MAX_STREAMS
#error "CONFIG_EVS_HUB_MAX_ROOMS larger than CONFIG_EVS_MAX_STREAMS wastes memory"
#endif

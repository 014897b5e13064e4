/* SPDX-License-Identifier: MIT */
/**
 * @file stream_publish.c
 * @brief The store's notice callback: encodes each committed change once, as the exact stream
 *        message every client will get, publishes it to the engine's hub with its routing meta
 *        and wakes the engine's I/O thread.
 */
#include <string.h>
#include "evs_json.h"
#include "stream_priv.h"
#include "evs_trace.h"

void evs_streams_publish_notice(void *engine, const evs_notice_t *notice)
{
    evs_streams_t *e = engine;
    if (e == NULL || notice == NULL) {
        return;
    }
    /* One message at a time: only the store's single writer thread calls this. The buffer is
     * a slot's size (nothing larger can be published anyway). */
    char *buf = e->pubbuf;
    size_t cap = e->cfg.slot_size;
    evs_msg_meta_t meta;
    memset(&meta, 0, sizeof(meta));
    meta.project_id = notice->project_id;
    size_t len = 0;
    switch (notice->kind) {
    case EVS_NOTICE_EVENT: {
        const evs_event_t *ev = notice->event;
        if (ev == NULL) {
            return;
        }
        meta.kind = EVS_MSG_EVENT;
        meta.event_id = notice->event_id;
        meta.level = ev->level;
        size_t el = ev->environment_len;
        if (el > sizeof(meta.env)) {
            el = sizeof(meta.env);
        }
        memcpy(meta.env, ev->environment, el);
        meta.env_len = (uint8_t)el;
        if (ev->gateway_len <= sizeof(meta.gw)) { /* longer: no gateway (matches no filter) */
            memcpy(meta.gw, ev->gateway, ev->gateway_len);
            meta.gw_len = ev->gateway_len;
        }
        len = evs_json_encode_event_msg(buf, cap, notice->event_id, notice->issue_id, ev->json,
                                        ev->json_len);
        break;
    }
    case EVS_NOTICE_ISSUE:
        meta.kind = EVS_MSG_ISSUE;
        len = evs_json_encode_issue_msg(buf, cap, notice->action, notice->issue_id, notice->status);
        break;
    case EVS_NOTICE_ISSUE_COUNT:
        meta.kind = EVS_MSG_ISSUE_COUNT;
        len = evs_json_encode_issue_count_msg(buf, cap, notice->project_id, notice->count);
        break;
    default:
        return;
    }
    if (len == 0) {
        return; /* cannot happen with a valid Kconfig (slot >= event max + envelope) */
    }
    if (evs_hub_publish(e->cfg.hub, &meta, buf, len) == EVS_OK) {
        evs__io_wake(e);
        EVS_TRACE(EVS_HOP_PUBLISHED);
    }
}

/* SPDX-License-Identifier: MIT */
/**
 * @file stream_publish.c
 * @brief The store's notice callback: encodes each committed change once, as the exact stream
 *        message every client will get, and publishes it to the hub with its routing meta.
 */
#include <string.h>
#include "evs_json.h"
#include "evs_stream.h"

/* One message at a time per writer thread; sized like a ring slot (nothing larger can be
 * published anyway). Thread-local so that two stores in one process never share it. */
static _Thread_local char s_buf[CONFIG_EVS_RING_SLOT_SIZE];

void evs_stream_publish_notice(void *hub, const evs_notice_t *notice)
{
    if (hub == NULL || notice == NULL) {
        return;
    }
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
        len = evs_json_encode_event_msg(s_buf, sizeof(s_buf), notice->event_id, notice->issue_id,
                                        ev->json, ev->json_len);
        break;
    }
    case EVS_NOTICE_ISSUE:
        meta.kind = EVS_MSG_ISSUE;
        len = evs_json_encode_issue_msg(s_buf, sizeof(s_buf), notice->action, notice->issue_id,
                                        notice->status);
        break;
    case EVS_NOTICE_ISSUE_COUNT:
        meta.kind = EVS_MSG_ISSUE_COUNT;
        len = evs_json_encode_issue_count_msg(s_buf, sizeof(s_buf), notice->project_id,
                                              notice->count);
        break;
    default:
        return;
    }
    if (len == 0) {
        return; /* cannot happen with a valid Kconfig (slot >= event max + envelope) */
    }
    if (evs_hub_publish((evs_hub_t *)hub, &meta, s_buf, len) == EVS_OK) {
        evs__stream_wake();
    }
}

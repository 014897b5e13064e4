/* SPDX-License-Identifier: MIT */
/**
 * @file stream_replay.c
 * @brief Resume: replay the stored events a client missed, in pages, without holding a store
 *        read connection while it waits for the client.
 */
#include <string.h>
#include "evs_json.h"
#include "stream_priv.h"

/*
 * The replay never holds a store read connection while it waits for the client: rows are
 * fetched in small pages, a row that does not fit in the buffer ends the page (the query runs
 * on to its limit, ignored), the buffer is flushed with no query open, and the next page starts
 * after the last row taken.
 */
#define EVS__REPLAY_PAGE 16

static void replay_first_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                             size_t json_len)
{
    (void)issue_id;
    (void)json;
    (void)json_len;
    evs_stream_t *s = ctx;
    if (s->replay_mark == 0) {
        s->replay_mark = event_id;
    }
}

static void replay_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                       size_t json_len)
{
    evs_stream_t *s = ctx;
    s->replay_rows++;
    if (event_id > s->replay_upto) {
        s->replay_past = true; /* live from here on */
        return;
    }
    if (s->done || s->replay_full) {
        return;
    }
    size_t need = EVS__PREFIX_MAX + json_len + 128 + EVS__TRAILER_MAX;
    if (need > s->wcap) {
        s->replay_last = event_id; /* cannot be framed in this build: skip it */
        return;
    }
    if (evs__wfree(s) < need) {
        evs__wcompact(s);
    }
    if (evs__wfree(s) < need) {
        s->replay_full = true; /* flush with no query open, then resume after replay_last */
        return;
    }
    char *p = s->wbuf + s->wlen + EVS__PREFIX_MAX;
    size_t n = evs_json_encode_event_msg(p, evs__wfree(s) - EVS__PREFIX_MAX - EVS__TRAILER_MAX,
                                         event_id, issue_id, json, json_len);
    if (n > 0) {
        evs__put_frame(s, EVS_WS_OP_TEXT, "event", event_id, p, n);
    }
    s->replay_last = event_id;
}

/* Replay the stored matching events in (after, upto], at most replay_max of them. */
void evs__replay(evs_stream_t *s, int64_t after, int64_t upto)
{
    if (upto <= after) {
        return;
    }
    uint64_t count = 0;
    int64_t first = 0, last = 0;
    const evs_filter_t *f = evs_hub_filter(s->sub);
    if (evs_store_events_count(s->eng->cfg.store, s->project_id, after, upto + 1, f, &count, &first,
                               &last) != EVS_OK ||
        count == 0) {
        return;
    }
    int64_t cursor = after;
    if (count > s->eng->cfg.replay_max) {
        /* The oldest of the replay_max + 1 newest is the last one we skip. */
        s->replay_mark = 0;
        (void)evs_store_events_newest(s->eng->cfg.store, s->project_id, after, upto,
                                      s->eng->cfg.replay_max + 1, f, replay_first_row, s);
        if (s->replay_mark > 0) {
            uint64_t skipped = count - s->eng->cfg.replay_max;
            evs__put_dropped(s, skipped, first, s->replay_mark);
            atomic_fetch_add_explicit(&s->eng->metrics.messages_dropped, skipped,
                                      memory_order_relaxed);
            cursor = s->replay_mark;
        }
    }
    s->replay_upto = upto;
    while (!s->done && cursor < upto) {
        s->replay_full = false;
        s->replay_past = false;
        s->replay_rows = 0;
        s->replay_last = cursor;
        int64_t next = cursor;
        if (evs_store_events_after(s->eng->cfg.store, s->project_id, cursor, EVS__REPLAY_PAGE, f,
                                   replay_row, s, &next) != EVS_OK) {
            return;
        }
        if (s->replay_full) {
            /* Out of room: wait (bounded by the send timeout) until everything went out. */
            if (!evs__wait_room(s, s->wcap)) {
                return;
            }
        } else if (s->replay_rows < EVS__REPLAY_PAGE || s->replay_past || s->replay_last >= upto) {
            return; /* the last page */
        }
        if (s->replay_last == cursor && !s->replay_full) {
            return;
        }
        cursor = s->replay_last;
    }
}

# SPDX-License-Identifier: MIT
# unit.stream_session: a stream session through its I/O seam with fake transports (fd mode via
# custom io ops over a socketpair: partial writes, EAGAIN, split reads, a close mid-frame, the
# send timeout; conn mode via a recording write callback), over a real hub and store. Also two
# engines side by side and caller-provided storage. About 2 s; ASan/LSan and TSan clean.
if(NOT EVS_CORE_ONLY)
    evs_unit_test(stream_session LIBS evs_stream evs_store evs_json cmocka TIMEOUT 120)
endif()

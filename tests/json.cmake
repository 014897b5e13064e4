# SPDX-License-Identifier: MIT
# unit.json: the evs_json validation matrix, normalization, grouping, splitting, client
# messages and encoders (cmocka). Links cJSON too, to round-trip the normalized output.
if(TARGET evs_json)
    evs_unit_test(json LIBS evs_json evs_auth evs_core evs_port cjson cmocka m)
    target_include_directories(test_json PRIVATE ${CMAKE_SOURCE_DIR}/components/evs_json/src)
    # Link seam for the arena allocation failure (see test_json.c).
    target_link_options(test_json PRIVATE -Wl,--wrap=malloc)
endif()
# unit.json_sentry: the Sentry envelope cutter and event mapping (evs_sentry.h)
if(TARGET evs_json)
    evs_unit_test(json_sentry LIBS evs_json evs_auth evs_core evs_port cjson cmocka m)
endif()

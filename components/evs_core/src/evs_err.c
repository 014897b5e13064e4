/* SPDX-License-Identifier: MIT */
/* Names and messages of evs_err_t, generated from the one EVS_ERRNO_MAP table. */
#include "evs_err.h"

const char *evs_err_name(evs_err_t err)
{
    switch (err) {
#define EVS__ERR_NAME(name, val, code, msg)                                                        \
    case EVS_##name:                                                                               \
        return "EVS_" #name;
        EVS_ERRNO_MAP(EVS__ERR_NAME)
#undef EVS__ERR_NAME
    }
    return "EVS_ERR_UNKNOWN";
}

const char *evs_err_code(evs_err_t err)
{
    switch (err) {
#define EVS__ERR_CODE(name, val, code, msg)                                                        \
    case EVS_##name:                                                                               \
        return code;
        EVS_ERRNO_MAP(EVS__ERR_CODE)
#undef EVS__ERR_CODE
    }
    return "unknown";
}

const char *evs_strerror(evs_err_t err)
{
    switch (err) {
#define EVS__ERR_MSG(name, val, code, msg)                                                         \
    case EVS_##name:                                                                               \
        return msg;
        EVS_ERRNO_MAP(EVS__ERR_MSG)
#undef EVS__ERR_MSG
    }
    return "unknown error";
}

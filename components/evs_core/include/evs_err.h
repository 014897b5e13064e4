/* SPDX-License-Identifier: MIT */
/**
 * @file evs_err.h
 * @brief evstream error codes: 0 is success, every failure a negative code from one table.
 *
 * EVS_ERR_FULL ("full, try again") and EVS_ERR_AGAIN ("nothing yet") are conditions, not
 * failures. On error, out-pointers are set to NULL and no callback fires.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, machine_code, message) */
#define EVS_ERRNO_MAP(X)                                                                           \
    X(OK, 0, "ok", "success")                                                                      \
    X(ERR_INVALID_ARG, -1, "invalid_argument", "invalid argument")                                 \
    X(ERR_NO_MEM, -2, "no_memory", "out of memory")                                                \
    X(ERR_FULL, -3, "full", "queue or table full, try again later")                                \
    X(ERR_AGAIN, -4, "again", "nothing available yet")                                             \
    X(ERR_NOT_FOUND, -5, "not_found", "not found")                                                 \
    X(ERR_TOO_LARGE, -6, "too_large", "too large")                                                 \
    X(ERR_INVALID, -7, "invalid", "invalid input")                                                 \
    X(ERR_IO, -8, "io_error", "input/output error")                                                \
    X(ERR_DB, -9, "db_error", "database error")                                                    \
    X(ERR_CLOSED, -10, "closed", "closed or shutting down")                                        \
    X(ERR_TIMEOUT, -11, "timeout", "timed out")                                                    \
    X(ERR_UNAUTHORIZED, -12, "unauthorized", "missing or unknown key")                             \
    X(ERR_FORBIDDEN, -13, "forbidden", "not allowed for this key")                                 \
    X(ERR_EXISTS, -14, "exists", "already exists")                                                 \
    X(ERR_UNSUPPORTED, -15, "unsupported", "not supported")                                        \
    X(ERR_INTERNAL, -16, "internal", "internal error")                                             \
    X(ERR_TOO_MANY, -17, "too_many", "too many elements")                                          \
    X(ERR_CONFIG, -18, "bad_config", "invalid configuration")                                      \
    X(ERR_CORRUPT, -19, "corrupt", "data overwritten or corrupt")                                  \
    X(ERR_NO_SPACE, -20, "no_space", "storage full")                                               \
    X(ERR_READ_ONLY, -21, "read_only", "storage is read-only")                                     \
    X(ERR_FOREIGN, -22, "foreign_db", "not an evstream database")                                  \
    X(ERR_SCHEMA_NEWER, -23, "schema_newer", "database written by a newer evstream")

typedef enum evs_err {
#define EVS__ERR_ENUM(name, val, code, msg) EVS_##name = (val),
    EVS_ERRNO_MAP(EVS__ERR_ENUM)
#undef EVS__ERR_ENUM
} evs_err_t;

/** @brief Symbolic name, e.g. "EVS_ERR_FULL". Never NULL. */
const char *evs_err_name(evs_err_t err);
/** @brief Machine code used in JSON errors, e.g. "full". Never NULL. */
const char *evs_err_code(evs_err_t err);
/** @brief Human readable message. Never NULL. */
const char *evs_strerror(evs_err_t err);

#ifdef __cplusplus
}
#endif

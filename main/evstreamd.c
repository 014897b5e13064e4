/* SPDX-License-Identifier: MIT */
/* evstreamd: prints its version and effective configuration, then waits for SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "evs_types.h"

static volatile sig_atomic_t s_stop;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("evstreamd 0.1.0\n");
    printf("ring: %d slots x %d bytes, backlog %d, max streams %d\n", CONFIG_EVS_RING_SLOTS,
           CONFIG_EVS_RING_SLOT_SIZE, CONFIG_EVS_CLIENT_BACKLOG, CONFIG_EVS_MAX_STREAMS);
    fflush(stdout);
    while (!s_stop) {
        pause();
    }
    return 0;
}

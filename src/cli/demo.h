/* SPDX-License-Identifier: MIT */
/* iolayer demo: the echo comparison step (src/cli/demo_echo.c). */
#ifndef IOLAYER_CLI_DEMO_H
#define IOLAYER_CLI_DEMO_H

#include <stdbool.h>

/* Step 5: the io_uring and epoll backends side by side; adds to *failures
 * when the step did not behave as stated. */
void ioli_demo_echo(bool quick, int *failures);

#endif

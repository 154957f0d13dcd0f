/* SPDX-License-Identifier: Apache-2.0 */
/* test-stack: starts the real stack, runs a command against it (an interop client), stops it. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <grpc/grpc.h>

#include "harness.h"

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: test-stack DBNAME -- COMMAND [ARGS...]\n");
        return 2;
    }
    grpc_init();
    h_stack *s = h_stack_start(argv[1]);
    setenv("COALITION_TEST_GATEWAY", h_addr(s, H_GATEWAY), 1);
    setenv("COALITION_TEST_PARTNERS", h_addr(s, H_PARTNERS), 1);
    setenv("COALITION_TEST_GATEWAY_HEALTH", h_health_addr(s, H_GATEWAY), 1);
    setenv("COALITION_TEST_PARTNERS_HEALTH", h_health_addr(s, H_PARTNERS), 1);
    pid_t pid;
    int rc = 1;
    if (posix_spawnp(&pid, argv[3], NULL, NULL, &argv[3], environ) == 0) {
        int st;
        waitpid(pid, &st, 0);
        rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    } else {
        fprintf(stderr, "test-stack: could not run %s\n", argv[3]);
    }
    if (!h_stack_stop(s)) {
        fprintf(stderr, "test-stack: a process did not stop cleanly\n");
        rc = rc == 0 ? 1 : rc;
    }
    grpc_shutdown();
    return rc;
}

#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Waits until grpc.health.v1.Health/Check answers SERVING on each plaintext ADDR (or times out).
import sys
import time

import grpc


def serving(addr):
    try:
        with grpc.insecure_channel(addr) as ch:
            check = ch.unary_unary("/grpc.health.v1.Health/Check")
            # An empty HealthCheckRequest is zero bytes; SERVING is field 1 = 1 (bytes 08 01).
            return check(b"", timeout=1) == b"\x08\x01"
    except grpc.RpcError:
        return False


def main():
    timeout = 20.0
    addrs = sys.argv[1:]
    end = time.monotonic() + timeout
    for addr in addrs:
        while not serving(addr):
            if time.monotonic() > end:
                print("health: %s not serving after %.0f s" % (addr, timeout), file=sys.stderr)
                return 1
            time.sleep(0.1)
        print("health: %s serving" % addr, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite: a formatting check, cppcheck,
# a -Werror build (unit tests also under valgrind) and an AddressSanitizer+UBSan build.
# Ends with one line "test.sh: N passed, M failed" summing every ctest run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
log() { printf 'test.sh: %s\n' "$*" >&2; }

"$ROOT/scripts/install-deps.sh"

# npm (Node.js) trusts only its built-in CA list; let it trust the system store too, as apt and
# curl do, so a registry reached through a proxy with a locally installed CA works.
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -f /etc/ssl/certs/ca-certificates.crt ]]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

free_port() {
    local p
    for ((p = $1; p < $1 + 200; p++)); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

passed=0
failed=0
# Runs ctest in build dir $1 and adds its counts; a run that executes no test counts as failed.
run_ctest() {
    local dir="$1" out rc=0
    shift
    out="$dir/ctest.log"
    (cd "$dir" && ctest --output-on-failure -j2 "$@") 2>&1 | tee "$out" || rc=$?
    local line
    line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        log "no test summary in $dir: counting as a failure"
        failed=$((failed + 1))
        return 0
    fi
    local nfail total
    nfail="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
    if ((total == 0)); then
        failed=$((failed + 1))
    fi
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    if ((rc != 0 && nfail == 0)); then
        failed=$((failed + 1))
    fi
}

log "formatting (clang-format 14, .clang-format)"
fmt_bad=0
while IFS= read -r f; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        log "not formatted: $f"
        fmt_bad=1
    fi
done < <(git ls-files '*.c' '*.h')
if ((fmt_bad)); then
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi

# ctuuninitvar is off: it takes output buffers handed to snprintf for reads of uninitialized
# memory across files (every report of it here was such a false positive).
log "static analysis (cppcheck) of common/, services/ and gateway/"
if cppcheck --quiet --enable=warning,portability,performance --std=c11 --inline-suppr \
    --error-exitcode=1 --suppress=ctuuninitvar -I common common services gateway; then
    passed=$((passed + 1))
else
    log "cppcheck found problems"
    failed=$((failed + 1))
fi

log "build with warnings as errors, tests, unit tests under valgrind"
# A random start makes two suites on one machine (two checkouts) unlikely to pick one port.
port="$(free_port $((55400 + RANDOM % 4000)))"
"$ROOT/scripts/build.sh" "$ROOT/build/test" -DCOALITION_WERROR=ON -DCOALITION_VALGRIND=ON \
    -DCOALITION_TEST_PG_PORT="$port"
run_ctest "$ROOT/build/test"

log "build with AddressSanitizer and UndefinedBehaviorSanitizer, tests"
port="$(free_port $((port + 1)))"
"$ROOT/scripts/build.sh" "$ROOT/build/asan" -DCOALITION_WERROR=ON -DCOALITION_SANITIZE=ON \
    -DCOALITION_TEST_PG_PORT="$port"
# Full unwinding gives leak reports whole stacks through libraries built without frame
# pointers (OpenSSL), so that tests/lsan.supp can tell gRPC's own leaks from ours.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}" \
    LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    run_ctest "$ROOT/build/asan"

echo "test.sh: $passed passed, $failed failed"
((failed == 0))

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole system locally with its demo.
#
#   scripts/run-local.sh          install, build, start PostgreSQL and every process, run the demo
#   scripts/run-local.sh stop     stop every process and the private PostgreSQL
#   scripts/run-local.sh status   show what runs
#
# Everything lives under .run/ in the checkout: pki/ (development certificates), pg/ (the
# PostgreSQL data folder), logs/ and pids/. Ports: gateway 50050 (mTLS), health 50150,
# metrics 9150; partners 50051/50151/9151; accounts 50052/50152/9152; points 50053/50153/9153;
# PostgreSQL 55432 (COALITION_PG_PORT).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN="$ROOT/.run"
BUILD="$ROOT/build/dev"
PG_PORT="${COALITION_PG_PORT:-55432}"
# The processes that exist today, in start order (each: name, listen, health, metrics).
PROCS=(
    "partners 127.0.0.1:50051 127.0.0.1:50151 127.0.0.1:9151"
    "accounts 127.0.0.1:50052 127.0.0.1:50152 127.0.0.1:9152"
    "points 127.0.0.1:50053 127.0.0.1:50153 127.0.0.1:9153"
    "gateway 127.0.0.1:50050 127.0.0.1:50150 127.0.0.1:9150"
)

log() { printf 'run-local: %s\n' "$*" >&2; }

stop_all() {
    local i
    for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do
        read -r name _ <<<"${PROCS[$i]}"
        local pidf="$RUN/pids/$name.pid"
        if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
            kill -TERM "$(cat "$pidf")"
            local n=0
            while kill -0 "$(cat "$pidf")" 2>/dev/null && ((n < 100)); do
                sleep 0.1
                n=$((n + 1))
            done
            log "stopped $name"
        fi
        rm -f "$pidf"
    done
    if [[ -d "$RUN/pg" ]]; then
        "$ROOT/scripts/pg.sh" stop "$RUN/pg" "$PG_PORT" || true
    fi
}

case "${1:-up}" in
    stop)
        stop_all
        exit 0
        ;;
    status)
        for p in "${PROCS[@]}"; do
            read -r name _ <<<"$p"
            pidf="$RUN/pids/$name.pid"
            if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
                echo "$name: running (pid $(cat "$pidf"))"
            else
                echo "$name: stopped"
            fi
        done
        exit 0
        ;;
    up) ;;
    *)
        echo "usage: $0 [up|stop|status]" >&2
        exit 2
        ;;
esac

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$BUILD"

mkdir -p "$RUN/logs" "$RUN/pids"
"$ROOT/scripts/dev-pki.sh" "$RUN/pki"
"$ROOT/scripts/pg.sh" start "$RUN/pg" "$PG_PORT"

# Stop what an earlier run left, then migrate and start every process.
for p in "${PROCS[@]}"; do
    read -r name _ <<<"$p"
    pidf="$RUN/pids/$name.pid"
    if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        kill -TERM "$(cat "$pidf")" && sleep 0.5
    fi
done

health=()
for p in "${PROCS[@]}"; do
    read -r name listen hlisten mlisten <<<"$p"
    bin="$BUILD/services/$name/coalition-$name"
    [[ "$name" == gateway ]] && bin="$BUILD/gateway/coalition-gateway"
    url="$("$ROOT/scripts/pg.sh" url "$RUN/pg" "$PG_PORT" "$name")"
    export COALITION_DATABASE_URL="$url"
    export COALITION_LISTEN="$listen" COALITION_HEALTH_LISTEN="$hlisten"
    export COALITION_METRICS_LISTEN="$mlisten"
    export COALITION_TLS_CERT="$RUN/pki/service-$name.crt"
    export COALITION_TLS_KEY="$RUN/pki/service-$name.key"
    export COALITION_TLS_CA="$RUN/pki/ca.crt"
    # The accounts service's master key: a development key made once, given to it alone.
    key_env=()
    if [[ "$name" == accounts ]]; then
        if [[ ! -s "$RUN/accounts.key" ]]; then
            (umask 077 && openssl rand -hex 32 >"$RUN/accounts.key")
        fi
        key_env=("COALITION_ACCOUNTS_KEY=$(cat "$RUN/accounts.key")")
    fi
    "$bin" migrate 2>>"$RUN/logs/$name.log"
    nohup setsid env "${key_env[@]}" "$bin" >>"$RUN/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/pids/$name.pid"
    log "started $name (pid $!, $listen, log .run/logs/$name.log)"
    health+=("$hlisten")
done
unset COALITION_DATABASE_URL COALITION_LISTEN COALITION_HEALTH_LISTEN COALITION_METRICS_LISTEN
unset COALITION_TLS_CERT COALITION_TLS_KEY COALITION_TLS_CA

/usr/bin/python3 "$ROOT/scripts/health.py" "${health[@]}"

COALITION_TEST_PKI="$RUN/pki" COALITION_TEST_GATEWAY=127.0.0.1:50050 \
    COALITION_TEST_PROTOSET="$BUILD/proto/coalition.protoset" \
    /usr/bin/python3 "$ROOT/scripts/demo.py"

cat >&2 <<MSG
run-local: the system is running. Gateway: 127.0.0.1:50050 (mTLS; certificates in .run/pki),
run-local: protoset: build/dev/proto/coalition.protoset, metrics: http://127.0.0.1:9150/metrics
run-local: stop it with: scripts/run-local.sh stop
MSG

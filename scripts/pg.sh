#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Manages a private PostgreSQL 15 cluster (127.0.0.1 only) for Coalition development and tests.
#
# Usage:
#   scripts/pg.sh start    DATADIR PORT           initdb if needed, start, ensure db/roles/schemas
#   scripts/pg.sh stop     DATADIR PORT           fast shutdown if running
#   scripts/pg.sh status   DATADIR PORT           exit 0 if running, 1 if not
#   scripts/pg.sh url      DATADIR PORT [SVC|-] [DBNAME]
#                                                 print a libpq URL (SVC: gateway accounts
#                                                 points partners referrals; none/-: superuser)
#   scripts/pg.sh createdb DATADIR PORT DBNAME    create DBNAME with the Coalition roles/schemas
#
# Roles coalition_<svc> are cluster-wide; each database gets one schema per
# service, owned by that service's role (gateway -> "settlement", others ->
# their own name). CREATE on schema public is revoked from PUBLIC.
#
# The cluster uses trust authentication. That is acceptable ONLY because it is
# a private dev/test cluster that listens on 127.0.0.1 and on a unix socket
# inside DATADIR (mode 0700, owned by the cluster user); never expose it.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
SERVICES=(gateway accounts points partners referrals)
DEFAULT_DB=coalition

log() { printf 'pg: %s\n' "$*" >&2; }
die() { printf 'pg: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $0 start|stop|status DATADIR PORT
       $0 url DATADIR PORT [SVC|-] [DBNAME]
       $0 createdb DATADIR PORT DBNAME
EOF
    exit 2
}

[[ $# -ge 3 ]] || usage
CMD="$1"
DATADIR_ARG="$2"
PORT="$3"
shift 3

[[ -n "$DATADIR_ARG" ]] || die "DATADIR must not be empty"
if [[ ! "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1024 || PORT > 65535 )); then
    die "invalid PORT '$PORT' (expected 1024-65535)"
fi

# Absolute, normalised path (symlinks are not resolved).
DATADIR="$(realpath -m -s -- "$DATADIR_ARG")"
[[ "$DATADIR" != "/" ]] || die "refusing to use / as DATADIR"
case "$DATADIR" in
    *","*|*"'"*|*"\\"*) die "DATADIR must not contain commas, quotes or backslashes: $DATADIR" ;;
esac

svc_schema() {
    case "$1" in
        gateway) printf 'settlement' ;;
        *) printf '%s' "$1" ;;
    esac
}

is_service() {
    local s
    for s in "${SERVICES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
    return 1
}

check_dbname() {
    [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_-]{0,62}$ ]] \
        || die "invalid database name '$1' (letters, digits, '_' and '-', max 63 chars)"
}

# ---- url (pure string, no cluster access needed) ----------------------------
if [[ "$CMD" == url ]]; then
    [[ $# -le 2 ]] || usage
    svc="${1:-}"
    db="${2:-$DEFAULT_DB}"
    check_dbname "$db"
    if [[ -z "$svc" || "$svc" == "-" || "$svc" == postgres ]]; then
        user=postgres
    else
        is_service "$svc" || die "unknown service '$svc' (expected: ${SERVICES[*]})"
        user="coalition_$svc"
    fi
    printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$user" "$PORT" "$db"
    exit 0
fi

# ---- helpers needing the binaries --------------------------------------------
for b in initdb pg_ctl pg_isready psql; do
    [[ -x "$PG_BIN/$b" ]] || die "$PG_BIN/$b not found (apt-get install postgresql-15 postgresql-client-15)"
done

# PostgreSQL refuses to run as root: as root, run server tools as "postgres".
if [[ "$(id -u)" -eq 0 ]]; then
    AS_ROOT=1
    PG_USER=postgres
else
    AS_ROOT=0
    PG_USER="$(id -un)"
fi

# run_pg CMD...: run a server-side tool as the cluster owner.
run_pg() {
    if [[ "$AS_ROOT" -eq 1 ]]; then
        # cd / so that an inaccessible cwd (e.g. /root) does not cause warnings.
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        "$@"
    fi
}

ensure_pg_user() {
    [[ "$AS_ROOT" -eq 1 ]] || return 0
    if ! getent passwd postgres >/dev/null; then
        log "creating system user postgres"
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
}

# 0 = running (on this DATADIR), non-zero otherwise.
is_running() {
    [[ -f "$DATADIR/PG_VERSION" ]] || return 1
    run_pg "$PG_BIN/pg_ctl" status -D "$DATADIR" >/dev/null 2>&1
}

# Port recorded in postmaster.pid (line 4) of the running server.
running_port() {
    sed -n '4p' "$DATADIR/postmaster.pid" 2>/dev/null || true
}

psql_super() {
    local db="$1"
    shift
    PGOPTIONS='-c client_min_messages=warning' \
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"
}

# Create DATADIR (and parents) so that the cluster owner can reach it.
prepare_datadir() {
    if [[ "$AS_ROOT" -eq 1 ]]; then
        # Remember which path components we create ourselves.
        local created=() p="$DATADIR"
        while [[ "$p" != "/" && ! -e "$p" ]]; do
            created+=("$p")
            p="$(dirname -- "$p")"
        done
        # Every existing ancestor must be traversable by the cluster owner. A checkout under
        # /root (mode 0700) is the common case: grant traversal (o+x, not listing) and say so.
        local parent="" comp
        local -a parts
        IFS='/' read -r -a parts <<<"${DATADIR#/}"
        for comp in "${parts[@]:0:${#parts[@]}-1}"; do
            parent="$parent/$comp"
            [[ -e "$parent" ]] || break
            if ! runuser -u "$PG_USER" -- test -x "$parent"; then
                log "letting $PG_USER traverse $parent (chmod o+x) to reach $DATADIR"
                chmod o+x -- "$parent"
            fi
        done
        mkdir -p -- "$DATADIR"
        # Make the parents we created traversable (root's umask may be 077).
        local c
        for c in "${created[@]}"; do
            [[ "$c" == "$DATADIR" ]] || chmod o+x -- "$c"
        done
        if [[ -z "$(ls -A -- "$DATADIR")" ]]; then
            chown "$PG_USER:" "$DATADIR"
        elif [[ "$(stat -c %U -- "$DATADIR")" != "$PG_USER" ]]; then
            die "$DATADIR is not empty and not owned by $PG_USER; fix with 'chown -R $PG_USER: $DATADIR' or use another DATADIR"
        fi
    else
        mkdir -p -- "$DATADIR"
    fi
    chmod 0700 "$DATADIR"
}

init_cluster() {
    if [[ -f "$DATADIR/PG_VERSION" ]]; then
        local v
        v="$(cat "$DATADIR/PG_VERSION")"
        [[ "$v" == 15 ]] || die "$DATADIR holds a PostgreSQL $v cluster, expected 15"
        return 0
    fi
    [[ -z "$(ls -A -- "$DATADIR")" ]] || die "$DATADIR is not empty and not a PostgreSQL data directory"
    log "initdb $DATADIR"
    local out
    # trust auth: private dev/test cluster, loopback + private socket only.
    if ! out="$(run_pg "$PG_BIN/initdb" -D "$DATADIR" --auth=trust --username=postgres \
            --encoding=UTF8 --locale=C 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
}

# Rewrite the Coalition block at the end of postgresql.conf (idempotent).
configure_cluster() {
    local conf="$DATADIR/postgresql.conf" tmp
    tmp="$(mktemp)"
    sed '/^# BEGIN coalition (scripts\/pg.sh)/,/^# END coalition (scripts\/pg.sh)$/d' "$conf" >"$tmp"
    cat >>"$tmp" <<EOF
# BEGIN coalition (scripts/pg.sh) -- managed block, rewritten on every start
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATADIR'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql-%Y-%m-%d.log'
log_line_prefix = '%m [%p] %q%u@%d '
# END coalition (scripts/pg.sh)
EOF
    # Truncate-and-write keeps the file's owner and mode.
    cat "$tmp" >"$conf"
    rm -f -- "$tmp"
}

wait_ready() {
    local i
    for ((i = 0; i < 60; i++)); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
            return 0
        fi
        sleep 0.5
    done
    die "server on 127.0.0.1:$PORT not ready after 30s (see $DATADIR/postgres.log and $DATADIR/log/)"
}

start_server() {
    log "starting on 127.0.0.1:$PORT ($DATADIR)"
    if ! run_pg "$PG_BIN/pg_ctl" start -D "$DATADIR" -w -t 60 -l "$DATADIR/postgres.log" >/dev/null; then
        log "pg_ctl start failed; last log lines:"
        tail -n 20 "$DATADIR/postgres.log" >&2 2>/dev/null || true
        local f
        for f in "$DATADIR"/log/*.log; do
            [[ -f "$f" ]] && tail -n 20 "$f" >&2
        done
        die "could not start PostgreSQL (port $PORT in use?)"
    fi
}

# Serialises concurrent invocations (e.g. parallel test programs running
# "createdb"): catalog updates of the same role would otherwise fail with
# "tuple concurrently updated". Held until the end of the implicit transaction.
LOCK_SQL="SELECT pg_advisory_xact_lock(hashtext('coalition scripts/pg.sh'));
"

# Roles are cluster-wide; created in any database.
ensure_roles() {
    local sql="$LOCK_SQL" svc
    for svc in "${SERVICES[@]}"; do
        sql+="DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'coalition_$svc') THEN
        CREATE ROLE coalition_$svc LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created concurrently
END
\$\$;
ALTER ROLE coalition_$svc LOGIN;
"
    done
    psql_super postgres -c "$sql" >/dev/null
}

# ensure_database DBNAME: database + per-service schemas.
ensure_database() {
    local db="$1" svc schema sql="" out
    if ! out="$(psql_super postgres -v "db=$db" 2>&1 <<'EOF'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'db')
\gexec
EOF
)"; then
        # Tolerate a concurrent creator; fail if it still does not exist.
        if [[ "$(psql_super postgres -At -v "db=$db" <<<"SELECT count(*) FROM pg_catalog.pg_database WHERE datname = :'db'")" != 1 ]]; then
            printf '%s\n' "$out" >&2
            die "could not create database $db"
        fi
    fi
    sql="${LOCK_SQL}REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"
    for svc in "${SERVICES[@]}"; do
        schema="$(svc_schema "$svc")"
        sql+="CREATE SCHEMA IF NOT EXISTS $schema AUTHORIZATION coalition_$svc;
ALTER SCHEMA $schema OWNER TO coalition_$svc;
"
    done
    psql_super "$db" -c "$sql" >/dev/null
    log "database $db ready (roles: ${SERVICES[*]/#/coalition_})"
}

require_running() {
    is_running || die "no server running on $DATADIR (run: $0 start $DATADIR_ARG $PORT)"
    local rp
    rp="$(running_port)"
    [[ "$rp" == "$PORT" ]] || die "server on $DATADIR listens on port $rp, not $PORT"
}

case "$CMD" in
    start)
        [[ $# -eq 0 ]] || usage
        ensure_pg_user
        if is_running; then
            rp="$(running_port)"
            [[ "$rp" == "$PORT" ]] || die "server on $DATADIR already running on port $rp, not $PORT (stop it first)"
            log "already running on 127.0.0.1:$PORT ($DATADIR)"
        else
            prepare_datadir
            init_cluster
            configure_cluster
            start_server
        fi
        wait_ready
        ensure_roles
        ensure_database "$DEFAULT_DB"
        ;;
    stop)
        [[ $# -eq 0 ]] || usage
        if [[ "$AS_ROOT" -eq 1 ]] && ! getent passwd "$PG_USER" >/dev/null; then
            log "not running"
            exit 0
        fi
        if is_running; then
            log "stopping ($DATADIR)"
            run_pg "$PG_BIN/pg_ctl" stop -D "$DATADIR" -m fast -w -t 60 >/dev/null
        else
            log "not running"
        fi
        ;;
    status)
        [[ $# -eq 0 ]] || usage
        if [[ "$AS_ROOT" -eq 1 ]] && ! getent passwd "$PG_USER" >/dev/null; then
            log "stopped"
            exit 1
        fi
        if is_running; then
            log "running on 127.0.0.1:$(running_port) ($DATADIR)"
            exit 0
        fi
        log "stopped"
        exit 1
        ;;
    createdb)
        [[ $# -eq 1 ]] || usage
        check_dbname "$1"
        require_running
        wait_ready
        ensure_roles
        ensure_database "$1"
        ;;
    *)
        usage
        ;;
esac

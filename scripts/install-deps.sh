#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 (bookworm) packages needed to build, run and test Coalition.
#
# Usage: scripts/install-deps.sh          (as root; uses sudo if available otherwise)
#   COALITION_FORCE_APT=1  run apt-get even when every package is already installed
#
# apt is skipped entirely when all packages are installed, so repeated runs are
# fast and work offline. Installing postgresql-15 is prevented from creating
# (and starting) the system "15/main" cluster, which would occupy port 5432;
# development and tests use private clusters (scripts/pg.sh).
set -euo pipefail

log() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

PACKAGES=(
    # toolchain
    build-essential cmake pkg-config git ca-certificates
    # TLS
    openssl libssl-dev
    # gRPC C core + protobuf
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev protobuf-compiler grpc-proto
    # PostgreSQL 15
    libpq-dev postgresql-15 postgresql-client-15
    # libraries used by services and tests
    libcmocka-dev libmicrohttpd-dev libjansson-dev
    # test tooling
    python3 python3-grpcio python3-protobuf nodejs npm valgrind clang-format cppcheck
    procps iproute2 util-linux
)

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "must run as root (or with sudo installed)"
    fi
fi

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian 12 (bookworm) only"

# is_installed PKG: true when dpkg reports "install ok installed".
is_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -x 'install ok installed' >/dev/null
}

# is_provided PKG: true when an installed package "Provides:" PKG. Example:
# NodeSource's nodejs bundles npm and Provides/Conflicts npm, so asking apt for
# Debian's npm would fail; the bundled one satisfies the requirement.
is_provided() {
    dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null \
        | awk -F'|' -v want="$1" '
            $1 ~ /^ii/ {
                n = split($2, prov, ",")
                for (i = 1; i <= n; i++) {
                    name = prov[i]
                    sub(/^[ \t]+/, "", name)
                    sub(/[ \t(:].*$/, "", name)
                    if (name == want) { found = 1 }
                }
            }
            END { exit !found }'
}

# satisfied PKG: installed, or provided by an installed package.
satisfied() {
    is_installed "$1" || is_provided "$1"
}

missing=()
to_install=()   # what apt is asked for: everything not merely "provided"
for p in "${PACKAGES[@]}"; do
    if is_installed "$p"; then
        to_install+=("$p")
    elif is_provided "$p"; then
        log "$p: provided by an installed package"
    else
        missing+=("$p")
        to_install+=("$p")
    fi
done

if [[ "${#missing[@]}" -eq 0 && "${COALITION_FORCE_APT:-0}" != 1 ]]; then
    log "all ${#PACKAGES[@]} packages present; skipping apt (COALITION_FORCE_APT=1 to force)"
    exit 0
fi

if [[ "${#missing[@]}" -gt 0 ]]; then
    log "missing: ${missing[*]}"
else
    log "COALITION_FORCE_APT=1: running apt-get anyway"
fi

if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    [[ "$codename" == bookworm ]] || log "warning: expected Debian bookworm, found '${codename:-unknown}'"
fi

# --- keep postgresql-15 from creating/starting the system 15/main cluster ----
# postgresql-common's createcluster.conf includes createcluster.d/*.conf, and
# the postgresql-15 postinst skips "main" when create_main_cluster is off.
# A drop-in (not a conffile) avoids any dpkg/ucf conffile prompt.
"${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
printf '%s\n' \
    '# Written by Coalition scripts/install-deps.sh: do not create the system' \
    '# "main" cluster when a postgresql-X package is installed (dev/test' \
    '# clusters are private, see scripts/pg.sh).' \
    'create_main_cluster = false' \
    | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/coalition-no-main.conf >/dev/null

# Remember whether 15/main existed before, for the fallback below.
main_existed=0
if [[ -e /etc/postgresql/15/main/postgresql.conf ]]; then
    main_existed=1
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
log "apt-get install (${#to_install[@]} packages)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${to_install[@]}"

# --- fallback: stop a 15/main cluster that this run created anyway ---------
if [[ "$main_existed" -eq 0 && -e /etc/postgresql/15/main/postgresql.conf ]]; then
    log "warning: installation created the system cluster 15/main"
    if command -v pg_lsclusters >/dev/null 2>&1 \
        && pg_lsclusters --no-header 2>/dev/null | awk '$1 == "15" && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
        log "stopping system cluster 15/main so that it does not hold port 5432"
        "${SUDO[@]}" pg_ctlcluster 15 main stop || log "warning: could not stop 15/main"
    fi
    # Do not start it again at boot either.
    if [[ -f /etc/postgresql/15/main/start.conf ]]; then
        printf 'manual\n' | "${SUDO[@]}" tee /etc/postgresql/15/main/start.conf >/dev/null
    fi
fi

still=()
for p in "${PACKAGES[@]}"; do
    satisfied "$p" || still+=("$p")
done
[[ "${#still[@]}" -eq 0 ]] || die "still not installed: ${still[*]}"
log "done: all ${#PACKAGES[@]} packages installed"

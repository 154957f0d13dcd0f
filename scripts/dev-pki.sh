#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Creates the Coalition development PKI (dev CA, SPIFFE service/admin/partner certs, negative-test certs).
#
# Usage: scripts/dev-pki.sh OUTDIR [TRUST_DOMAIN]
#
# Everything is ECDSA P-256 / SHA-256, PEM encoded. Keys are mode 0600.
# Idempotent: when every file already exists nothing is done. When only some
# files are missing, the existing CA is reused and only the missing pairs are
# (re)issued; if the CA itself is missing or incomplete, everything is
# reissued so that all leaves chain to the same CA.
#
# NOT FOR PRODUCTION: the keys are unencrypted and meant for local dev/tests.
set -euo pipefail

log() { printf 'pki: %s\n' "$*" >&2; }
die() { printf 'pki: error: %s\n' "$*" >&2; exit 1; }

if [[ $# -lt 1 || $# -gt 2 || -z "${1:-}" ]]; then
    die "usage: $0 OUTDIR [TRUST_DOMAIN]"
fi

OUTDIR="$1"
TD="${2:-coalition.local}"

# A SPIFFE trust domain is a lowercase DNS-like name.
if [[ ! "$TD" =~ ^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$ ]]; then
    die "invalid trust domain '$TD' (expected lowercase letters, digits, '.', '-', '_')"
fi

command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
case "$(openssl version 2>/dev/null)" in
    "OpenSSL 3."*) ;;
    *) die "OpenSSL 3.x required, found: $(openssl version 2>/dev/null || echo none)" ;;
esac

SERVICES=(gateway accounts points partners referrals)
PARTNERS=(bakery fuelco)

CA_DAYS=3650
LEAF_DAYS=825
EXPIRED_START=20200101000000Z
EXPIRED_END=20200201000000Z

# Every file this script produces, used for the "up to date" check.
all_files() {
    local n
    printf '%s\n' ca.crt ca.key
    for n in "${SERVICES[@]}"; do printf '%s\n' "service-$n.crt" "service-$n.key"; done
    printf '%s\n' admin-operator.crt admin-operator.key
    for n in "${PARTNERS[@]}"; do printf '%s\n' "partner-$n.crt" "partner-$n.key"; done
    printf '%s\n' partner-ghost.crt partner-ghost.key
    printf '%s\n' foreign-ca.crt foreign-ca.key foreign-bakery.crt foreign-bakery.key
    printf '%s\n' expired-bakery.crt expired-bakery.key
}

if [[ -f "$OUTDIR/ca.crt" ]]; then
    complete=1
    while IFS= read -r f; do
        if [[ ! -s "$OUTDIR/$f" ]]; then
            complete=0
            break
        fi
    done < <(all_files)
    if [[ "$complete" -eq 1 ]]; then
        log "up to date"
        exit 0
    fi
fi

mkdir -p -- "$OUTDIR"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/coalition-pki.XXXXXX")"
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT

# Minimal openssl config so that the system openssl.cnf (default extensions,
# prompts) never influences the result.
cat >"$WORK/req.cnf" <<'EOF'
[req]
distinguished_name = req_dn
prompt             = no
[req_dn]
CN = placeholder
[v3_ca]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

# Random, positive, unique 128-bit serial (leading 0x01 byte keeps it positive
# and non-zero).
rand_serial() { printf '01%s' "$(openssl rand -hex 15)"; }

# new_key PATH: ECDSA P-256 key, written with mode 0600.
new_key() {
    local path="$1"
    (umask 077 && openssl genpkey -algorithm EC \
        -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
        -out "$path" 2>/dev/null) || die "key generation failed for $path"
    chmod 0600 "$path"
}

# new_ca NAME CN: self-signed CA -> OUTDIR/NAME.crt/.key
new_ca() {
    local name="$1" cn="$2"
    new_key "$WORK/$name.key"
    openssl req -new -x509 -config "$WORK/req.cnf" -extensions v3_ca \
        -key "$WORK/$name.key" -subj "/O=Coalition Dev/CN=$cn" \
        -sha256 -days "$CA_DAYS" -set_serial "0x$(rand_serial)" \
        -out "$WORK/$name.crt" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "CA creation failed: $name"; }
    install_pair "$name"
    log "created $name.crt ($cn)"
}

# leaf_ext FILE SAN EKU: x509v3 extension section [leaf] for a leaf cert.
leaf_ext() {
    local file="$1" san="$2" eku="$3"
    cat >"$file" <<EOF
[leaf]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = $eku
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF
}

# install_pair NAME: move WORK/NAME.{key,crt} into OUTDIR atomically-ish.
install_pair() {
    local name="$1"
    chmod 0600 "$WORK/$name.key"
    chmod 0644 "$WORK/$name.crt"
    mv -f -- "$WORK/$name.key" "$OUTDIR/$name.key"
    mv -f -- "$WORK/$name.crt" "$OUTDIR/$name.crt"
}

# new_leaf NAME CN SAN EKU [ISSUER]: leaf signed by ISSUER (default "ca").
new_leaf() {
    local name="$1" cn="$2" san="$3" eku="$4" issuer="${5:-ca}"
    new_key "$WORK/$name.key"
    openssl req -new -config "$WORK/req.cnf" -key "$WORK/$name.key" \
        -subj "/O=Coalition Dev/CN=$cn" -out "$WORK/$name.csr" 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; die "CSR failed: $name"; }
    leaf_ext "$WORK/$name.ext" "$san" "$eku"
    openssl x509 -req -in "$WORK/$name.csr" \
        -CA "$OUTDIR/$issuer.crt" -CAkey "$OUTDIR/$issuer.key" \
        -set_serial "0x$(rand_serial)" -sha256 -days "$LEAF_DAYS" \
        -extfile "$WORK/$name.ext" -extensions leaf \
        -out "$WORK/$name.crt" 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; die "signing failed: $name"; }
    openssl verify -CAfile "$OUTDIR/$issuer.crt" "$WORK/$name.crt" >/dev/null 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; die "verification failed: $name"; }
    install_pair "$name"
    log "issued $name.crt ($san)"
}

# new_expired_leaf NAME CN SAN EKU: leaf signed by our CA whose validity lies
# entirely in the past. "openssl x509 -req" (3.0) cannot backdate, so use
# "openssl ca" with a throw-away database and explicit start/end dates.
new_expired_leaf() {
    local name="$1" cn="$2" san="$3" eku="$4"
    local cadir="$WORK/ca-db"
    rm -rf -- "$cadir"
    mkdir -p "$cadir/new"
    : >"$cadir/index.txt"
    rand_serial >"$cadir/serial"
    printf '\n' >>"$cadir/serial"
    cat >"$cadir/ca.cnf" <<EOF
[ca]
default_ca = dev_ca
[dev_ca]
database        = $cadir/index.txt
new_certs_dir   = $cadir/new
serial          = $cadir/serial
certificate     = $OUTDIR/ca.crt
private_key     = $OUTDIR/ca.key
default_md      = sha256
policy          = dev_policy
unique_subject  = no
copy_extensions = none
email_in_dn     = no
[dev_policy]
organizationName = optional
commonName       = supplied
EOF
    leaf_ext "$cadir/ext.cnf" "$san" "$eku"
    new_key "$WORK/$name.key"
    openssl req -new -config "$WORK/req.cnf" -key "$WORK/$name.key" \
        -subj "/O=Coalition Dev/CN=$cn" -out "$WORK/$name.csr" 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; die "CSR failed: $name"; }
    openssl ca -batch -notext -config "$cadir/ca.cnf" \
        -extfile "$cadir/ext.cnf" -extensions leaf \
        -startdate "$EXPIRED_START" -enddate "$EXPIRED_END" \
        -in "$WORK/$name.csr" -out "$WORK/$name.crt" >"$WORK/err" 2>&1 \
        || { cat "$WORK/err" >&2; die "signing failed: $name"; }
    # It must chain to our CA and fail *only* because it has expired.
    local out
    out="$(openssl verify -CAfile "$OUTDIR/ca.crt" "$WORK/$name.crt" 2>&1 || true)"
    if [[ "$out" != *"certificate has expired"* ]]; then
        printf '%s\n' "$out" >&2
        die "$name: expected 'certificate has expired' from openssl verify"
    fi
    install_pair "$name"
    log "issued $name.crt ($san, expired $EXPIRED_START..$EXPIRED_END)"
}

# need NAME: true if NAME.crt or NAME.key is missing (or REISSUE is set).
need() {
    [[ "$REISSUE" -eq 1 || ! -s "$OUTDIR/$1.crt" || ! -s "$OUTDIR/$1.key" ]]
}

spiffe() { printf 'URI:spiffe://%s/%s' "$TD" "$1"; }

# --- our dev CA --------------------------------------------------------------
REISSUE=0
if need ca; then
    new_ca ca "Coalition Dev CA"
    REISSUE=1   # all leaves must chain to the new CA
fi

# --- services (server + client) ----------------------------------------------
for svc in "${SERVICES[@]}"; do
    if need "service-$svc"; then
        new_leaf "service-$svc" "coalition-$svc" \
            "$(spiffe "service/$svc"), DNS:localhost, DNS:coalition-$svc, IP:127.0.0.1" \
            "serverAuth, clientAuth"
    fi
done

# --- admin operator (client only) --------------------------------------------
if need admin-operator; then
    new_leaf admin-operator "coalition-admin-operator" "$(spiffe admin/operator)" clientAuth
fi

# --- demo partners (client only) ---------------------------------------------
for p in "${PARTNERS[@]}"; do
    if need "partner-$p"; then
        new_leaf "partner-$p" "coalition-partner-$p" "$(spiffe "partner/$p")" clientAuth
    fi
done

# --- test-only material ------------------------------------------------------
# Valid chain, but an identity that is never registered.
if need partner-ghost; then
    new_leaf partner-ghost "coalition-partner-ghost" "$(spiffe partner/ghost)" clientAuth
fi

# A foreign CA and a cert claiming the bakery identity, signed by it.
FOREIGN_REISSUE="$REISSUE"
if need foreign-ca; then
    new_ca foreign-ca "Foreign Dev CA"
    FOREIGN_REISSUE=1
fi
if [[ "$FOREIGN_REISSUE" -eq 1 || ! -s "$OUTDIR/foreign-bakery.crt" || ! -s "$OUTDIR/foreign-bakery.key" ]]; then
    new_leaf foreign-bakery "coalition-partner-bakery" "$(spiffe partner/bakery)" clientAuth foreign-ca
fi

# The bakery identity, signed by our CA, but expired.
if need expired-bakery; then
    new_expired_leaf expired-bakery "coalition-partner-bakery" "$(spiffe partner/bakery)" clientAuth
fi

log "done: $OUTDIR (trust domain $TD)"

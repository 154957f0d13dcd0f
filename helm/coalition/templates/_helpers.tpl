{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{/* Named templates of the Coalition chart; every name starts with "coalition.". */}}

{{/*
Most templates take a "process context": dict "root" $ "name" NAME "svc" (index $.Values NAME),
where NAME is one of "coalition.processNames".
*/}}

{{/* The five processes, in a fixed order: gateway first. */}}
{{- define "coalition.processNames" -}}
gateway partners accounts points referrals
{{- end -}}

{{- define "coalition.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: "<release>-coalition", or the release name when it
already contains the chart name, or fullnameOverride. Kept to 40 characters so that
"<fullname>-referrals-metrics" still fits in 63. */}}
{{- define "coalition.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "coalition.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a process's resources (Deployment, Service, ...): "<fullname>-<name>". */}}
{{- define "coalition.componentName" -}}
{{- printf "%s-%s" (include "coalition.fullname" .root) .name -}}
{{- end -}}

{{/* Labels of every resource of the release (context: root). */}}
{{- define "coalition.commonLabels" -}}
helm.sh/chart: {{ include "coalition.chart" . }}
app.kubernetes.io/name: {{ include "coalition.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: coalition
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a process's resources (context: process). */}}
{{- define "coalition.labels" -}}
{{ include "coalition.commonLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Selector labels of a process's pods (context: process). */}}
{{- define "coalition.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coalition.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Metadata annotations: commonAnnotations merged with "extra" (which wins), as YAML, or
nothing when both are empty (context: dict "root" $ "extra" MAP). */}}
{{- define "coalition.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) -}}
{{- with $all }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* The image reference: registry/repository:tag or @digest (context: root). */}}
{{- define "coalition.image" -}}
{{- $registry := .Values.image.registry -}}
{{- if and .Values.global .Values.global.imageRegistry -}}
{{- $registry = .Values.global.imageRegistry -}}
{{- end -}}
{{- $repo := .Values.image.repository -}}
{{- if $registry -}}
{{- $repo = printf "%s/%s" $registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* The pull Secret list (YAML) or nothing (context: root). */}}
{{- define "coalition.imagePullSecrets" -}}
{{- $names := concat (.Values.image.pullSecrets | default list) ((.Values.global).imagePullSecrets | default list) | uniq -}}
{{- $refs := list -}}
{{- range $names }}{{ $refs = append $refs (dict "name" .) }}{{ end -}}
{{- with $refs }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* ServiceAccount name of a process (context: process). */}}
{{- define "coalition.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create -}}
{{- .svc.serviceAccount.name | default (include "coalition.componentName" .) -}}
{{- else -}}
{{- .svc.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* PostgreSQL schema a process owns (context: process). */}}
{{- define "coalition.schema" -}}
{{- if eq .name "gateway" -}}settlement{{- else -}}{{ .name }}{{- end -}}
{{- end -}}

{{/* --- certificates --- */}}

{{/* Name of the Secret with a process's tls.crt, tls.key (and ca.crt) (context: process). */}}
{{- define "coalition.tlsSecretName" -}}
{{- .svc.tls.existingSecret | default (printf "%s-tls" (include "coalition.componentName" .)) -}}
{{- end -}}

{{/* Whether the chart writes a process's TLS Secret from values: "true" or "" (context: process). */}}
{{- define "coalition.tlsSecretFromValues" -}}
{{- if and (not .svc.tls.existingSecret) (not .root.Values.tls.certManager.enabled) .svc.tls.cert -}}true{{- end -}}
{{- end -}}

{{/* Whether cert-manager issues a process's certificate: "true" or "" (context: process). */}}
{{- define "coalition.tlsFromCertManager" -}}
{{- if and (not .svc.tls.existingSecret) .root.Values.tls.certManager.enabled -}}true{{- end -}}
{{- end -}}

{{/* SPIFFE identity of a process (context: process). */}}
{{- define "coalition.spiffeId" -}}
{{- printf "spiffe://%s/service/%s" .root.Values.trustDomain .name -}}
{{- end -}}

{{/* DNS names a process's certificate carries: its Service name in every form the cluster
resolves (the gateway dials the short one), plus tls.extraDnsNames (context: process). */}}
{{- define "coalition.dnsNames" -}}
{{- $svcName := include "coalition.componentName" . -}}
{{- $ns := .root.Release.Namespace -}}
- {{ $svcName }}
- {{ printf "%s.%s" $svcName $ns }}
- {{ printf "%s.%s.svc" $svcName $ns }}
- {{ printf "%s.%s.svc.%s" $svcName $ns .root.Values.clusterDomain }}
{{- range .svc.tls.extraDnsNames }}
- {{ . }}
{{- end }}
{{- end -}}

{{/* --- database --- */}}

{{/* Name of the Secret with a process's database URL (context: process). */}}
{{- define "coalition.databaseSecretName" -}}
{{- if .svc.database.existingSecret -}}
{{- .svc.database.existingSecret -}}
{{- else -}}
{{- printf "%s-database" (include "coalition.componentName" .) -}}
{{- end -}}
{{- end -}}

{{/* Key of the database URL in that Secret (context: process). */}}
{{- define "coalition.databaseSecretKey" -}}
{{- if .svc.database.existingSecret -}}
{{- .svc.database.existingSecretKey | default "database-url" -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{/* Secret the migration Job reads: the hook copy the chart writes before the Job when the URL
is in values (regular Secrets do not exist yet at pre-install), else the existing one. */}}
{{- define "coalition.migrateSecretName" -}}
{{- if .svc.database.url -}}
{{- printf "%s-migrate" (include "coalition.componentName" .) -}}
{{- else -}}
{{- include "coalition.databaseSecretName" . -}}
{{- end -}}
{{- end -}}

{{/* --- configuration --- */}}

{{/* The common config with a process's overrides, as YAML (context: process). */}}
{{- define "coalition.config" -}}
{{- $cfg := deepCopy .root.Values.config -}}
{{- range $k, $v := (.svc.config | default dict) -}}
{{- $_ := set $cfg $k $v -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* host:port a process dials for service NAME: its own "upstreams.NAME" value, else this
release's Service (context: dict "root" $ "name" NAME "upstreams" MAP; without "upstreams",
gateway.upstreams). */}}
{{- define "coalition.upstream" -}}
{{- $svc := index .root.Values .name -}}
{{- $upstreams := ternary .upstreams .root.Values.gateway.upstreams (hasKey . "upstreams") | default dict -}}
{{- $override := index $upstreams .name | default "" -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- printf "%s:%d" (include "coalition.componentName" (dict "root" .root "name" .name)) (int $svc.service.port) -}}
{{- end -}}
{{- end -}}

{{/* Environment of a process, the data of its ConfigMap (context: process). */}}
{{- define "coalition.configData" -}}
{{- $cfg := include "coalition.config" . | fromYaml -}}
{{- $ports := .svc.containerPorts -}}
COALITION_LISTEN: {{ printf "0.0.0.0:%d" (int $ports.grpc) | quote }}
COALITION_HEALTH_LISTEN: {{ printf "0.0.0.0:%d" (int $ports.health) | quote }}
COALITION_METRICS_LISTEN: {{ ternary (printf "0.0.0.0:%d" (int $ports.metrics)) "" .root.Values.metrics.enabled | quote }}
COALITION_TLS_CERT: "/etc/coalition/tls/tls.crt"
COALITION_TLS_KEY: "/etc/coalition/tls/tls.key"
COALITION_TLS_CA: "/etc/coalition/tls/ca.crt"
COALITION_TRUST_DOMAIN: {{ .root.Values.trustDomain | quote }}
COALITION_LOG_LEVEL: {{ $cfg.logLevel | quote }}
COALITION_QUEUES: {{ int64 $cfg.queues | quote }}
COALITION_THREADS_PER_QUEUE: {{ int64 $cfg.threadsPerQueue | quote }}
COALITION_DB_POOL: {{ int64 $cfg.dbPool | quote }}
COALITION_SHUTDOWN_GRACE_MS: {{ int64 $cfg.shutdownGraceMs | quote }}
COALITION_MAX_CONNECTION_AGE_MS: {{ int64 $cfg.maxConnectionAgeMs | quote }}
COALITION_MAX_MESSAGE_BYTES: {{ int64 $cfg.maxMessageBytes | quote }}
{{- if eq .name "gateway" }}
COALITION_PARTNERS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "partners") | quote }}
COALITION_ACCOUNTS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "accounts") | quote }}
COALITION_POINTS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "points") | quote }}
COALITION_REFERRALS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "referrals") | quote }}
{{- $admins := .svc.adminIdentities | default (list (printf "spiffe://%s/admin/operator" .root.Values.trustDomain)) }}
COALITION_ADMIN_IDENTITIES: {{ join "," $admins | quote }}
COALITION_IDENTITY_CACHE_MS: {{ int64 .svc.identityCacheMs | quote }}
COALITION_DEFAULT_DEADLINE_MS: {{ int64 .svc.defaultDeadlineMs | quote }}
{{- end }}
{{- if eq .name "accounts" }}
COALITION_PARTNERS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "partners" "upstreams" .svc.upstreams) | quote }}
COALITION_POINTS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "points" "upstreams" .svc.upstreams) | quote }}
{{- end }}
{{- if eq .name "points" }}
COALITION_PARTNERS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "partners" "upstreams" .svc.upstreams) | quote }}
COALITION_ACCOUNTS_ADDR: {{ include "coalition.upstream" (dict "root" .root "name" "accounts" "upstreams" .svc.upstreams) | quote }}
COALITION_POINTS_BATCH_MAX: {{ int64 .svc.batchMax | quote }}
COALITION_POINTS_PROGRAM_REFRESH_MS: {{ int64 .svc.programRefreshMs | quote }}
COALITION_POINTS_MEMBER_CACHE_MS: {{ int64 .svc.memberCacheMs | quote }}
{{- end }}
{{- end -}}

{{/* --- the accounts master key (COALITION_ACCOUNTS_KEY) --- */}}

{{/* Name of the Secret holding it: accounts.key.existingSecret, else the one the chart
generates, "<fullname>-accounts-key" (context: root). */}}
{{- define "coalition.accountsKeySecretName" -}}
{{- .Values.accounts.key.existingSecret | default (printf "%s-accounts-key" (include "coalition.fullname" .)) -}}
{{- end -}}

{{/* Key of the master key in that Secret (context: root). */}}
{{- define "coalition.accountsKeySecretKey" -}}
{{- if .Values.accounts.key.existingSecret -}}
{{- .Values.accounts.key.existingSecretKey | default "accounts-key" -}}
{{- else -}}
accounts-key
{{- end -}}
{{- end -}}

{{/* Processes allowed to call a service's gRPC port (its NetworkPolicy), as a space-separated
list: who dials it (README "Processes"), the planned callers included (context: process). */}}
{{- define "coalition.callers" -}}
{{- if eq .name "partners" -}}
gateway accounts points
{{- else if eq .name "accounts" -}}
gateway points referrals
{{- else if eq .name "points" -}}
gateway accounts referrals
{{- else -}}
gateway accounts points
{{- end -}}
{{- end -}}

{{/* Seconds the kubelet gives a stopping pod: the preStop sleep, then the shutdown grace
rounded up, then 10 s for the handlers to return and the process to exit (context: process). */}}
{{- define "coalition.terminationGracePeriodSeconds" -}}
{{- if not (eq (toString .svc.terminationGracePeriodSeconds) "") -}}
{{- int64 .svc.terminationGracePeriodSeconds -}}
{{- else -}}
{{- $cfg := include "coalition.config" . | fromYaml -}}
{{- $graceS := div (add (int64 $cfg.shutdownGraceMs) 999) 1000 -}}
{{- add (include "coalition.preStopSleepSeconds" .root | int64) $graceS 10 -}}
{{- end -}}
{{- end -}}

{{/* The preStop sleep actually used: preStopSleepSeconds on Kubernetes 1.30+ (where the
"sleep" action is on by default), else 0: the image has no shell for an exec "sleep"
(context: root). */}}
{{- define "coalition.preStopSleepSeconds" -}}
{{- if and (gt (int64 .Values.preStopSleepSeconds) 0) (semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version) -}}
{{- int64 .Values.preStopSleepSeconds -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{/* Affinity of a process's pods: its own, else the anti-affinity preset (context: process). */}}
{{- define "coalition.affinity" -}}
{{- if .svc.affinity -}}
{{- toYaml .svc.affinity -}}
{{- else if eq .root.Values.podAntiAffinityPreset "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "coalition.selectorLabels" . | nindent 12 }}
{{- else if eq .root.Values.podAntiAffinityPreset "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "coalition.selectorLabels" . | nindent 10 }}
{{- end -}}
{{- end -}}

{{/* gRPC health probe on the plaintext health port (context: dict "probe" P "port" N). */}}
{{- define "coalition.probe" -}}
grpc:
  port: {{ int .port }}
periodSeconds: {{ int .probe.periodSeconds }}
timeoutSeconds: {{ int .probe.timeoutSeconds }}
failureThreshold: {{ int .probe.failureThreshold }}
{{- end -}}

{{/* --- validation: fails the render with a message naming the value --- */}}
{{- define "coalition.validateValues" -}}
{{- $root := . -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "coalition: tls.certManager.enabled needs tls.certManager.issuerRef.name (a private CA issuer)" -}}
{{- end -}}
{{- range $name := include "coalition.processNames" . | splitList " " -}}
{{- $svc := index $root.Values $name -}}
{{- if $svc.enabled -}}
{{- if and $svc.tls.cert (not $svc.tls.key) -}}
{{- fail (printf "coalition: %s.tls.cert is set but %s.tls.key is not" $name $name) -}}
{{- end -}}
{{- if and $svc.tls.key (not $svc.tls.cert) -}}
{{- fail (printf "coalition: %s.tls.key is set but %s.tls.cert is not" $name $name) -}}
{{- end -}}
{{- if and $svc.tls.cert (or $svc.tls.existingSecret $root.Values.tls.certManager.enabled) -}}
{{- fail (printf "coalition: %s.tls.cert cannot be combined with %s.tls.existingSecret or tls.certManager.enabled" $name $name) -}}
{{- end -}}
{{- if and $svc.tls.cert (not $root.Values.tls.caCert) (not $root.Values.tls.caSecret.name) -}}
{{- fail (printf "coalition: %s.tls.cert needs the CA: set tls.caCert or tls.caSecret.name" $name) -}}
{{- end -}}
{{- if and $svc.database.url $svc.database.existingSecret -}}
{{- fail (printf "coalition: set %s.database.url or %s.database.existingSecret, not both" $name $name) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas)) -}}
{{- fail (printf "coalition: %s.autoscaling.minReplicas is greater than maxReplicas" $name) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (eq (toString $svc.autoscaling.targetCPU) "") (eq (toString $svc.autoscaling.targetMemory) "") -}}
{{- fail (printf "coalition: %s.autoscaling needs targetCPU or targetMemory" $name) -}}
{{- end -}}
{{- if and $svc.pdb.create (not (eq (toString $svc.pdb.minAvailable) "")) (not (eq (toString $svc.pdb.maxUnavailable) "")) -}}
{{- fail (printf "coalition: set %s.pdb.minAvailable or %s.pdb.maxUnavailable, not both" $name $name) -}}
{{- end -}}
{{- $ctx := dict "root" $root "name" $name "svc" $svc -}}
{{- $cfg := include "coalition.config" $ctx | fromYaml -}}
{{- $needMs := add (mul (include "coalition.preStopSleepSeconds" $root | int64) 1000) (int64 $cfg.shutdownGraceMs) -}}
{{- if le (mul (include "coalition.terminationGracePeriodSeconds" $ctx | int64) 1000) $needMs -}}
{{- fail (printf "coalition: %s.terminationGracePeriodSeconds must exceed the preStop sleep plus config.shutdownGraceMs (%d ms)" $name $needMs) -}}
{{- end -}}
{{- $ports := list (int $svc.containerPorts.grpc) (int $svc.containerPorts.health) (int $svc.containerPorts.metrics) -}}
{{- if ne (len ($ports | uniq)) 3 -}}
{{- fail (printf "coalition: %s.containerPorts must be three different ports" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

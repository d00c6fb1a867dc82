{{/* Chart name. */}}
{{- define "dzug.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name, plus the chart name unless the release already contains it. */}}
{{- define "dzug.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dzug.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "user"). */}}
{{- define "dzug.labels" -}}
helm.sh/chart: {{ include "dzug.chart" .ctx }}
{{ include "dzug.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: dzug
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels; call with (dict "ctx" $ "component" "user"). */}}
{{- define "dzug.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dzug.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* Name of one component's objects; call with (dict "ctx" $ "component" "user"). */}}
{{- define "dzug.componentName" -}}
{{- printf "%s-%s" (include "dzug.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dzug.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dzug.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dzug.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* etcd */}}
{{- define "dzug.etcd.name" -}}{{ include "dzug.componentName" (dict "ctx" . "component" "etcd") }}{{- end -}}
{{- define "dzug.etcd.headless" -}}{{ printf "%s-headless" (include "dzug.etcd.name" .) | trunc 63 | trimSuffix "-" }}{{- end -}}

{{/* DNS name of etcd member N; call with (list $ N). */}}
{{- define "dzug.etcd.memberHost" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "dzug.etcd.name" $ctx) (index . 1) (include "dzug.etcd.headless" $ctx) $ctx.Release.Namespace $ctx.Values.clusterDomain -}}
{{- end -}}

{{- define "dzug.etcd.clientScheme" -}}{{ ternary "https" "http" (not (empty .Values.etcd.tls.client.existingSecret)) }}{{- end -}}
{{- define "dzug.etcd.peerScheme" -}}{{ ternary "https" "http" (not (empty .Values.etcd.tls.peer.existingSecret)) }}{{- end -}}

{{/* Comma-separated client URLs of every etcd member (DZUG_ETCD_ENDPOINTS, DZUG_CLUSTER_CLIENT_URLS). */}}
{{- define "dzug.etcd.endpoints" -}}
{{- $urls := list -}}
{{- $scheme := include "dzug.etcd.clientScheme" . -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $urls = append $urls (printf "%s://%s:2379" $scheme (include "dzug.etcd.memberHost" (list $ $i))) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* Each member's status port (2382: member-init, then the auth keeper; GET /dzug/member, /readyz), member order. */}}
{{- define "dzug.etcd.statusUrls" -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $urls = append $urls (printf "http://%s:2382" (include "dzug.etcd.memberHost" (list $ $i))) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* The desired members as name=peerURL (the --initial-cluster format; DZUG_CLUSTER_MEMBERS). */}}
{{- define "dzug.etcd.initialCluster" -}}
{{- $peers := list -}}
{{- $scheme := include "dzug.etcd.peerScheme" . -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $peers = append $peers (printf "%s-%d=%s://%s:2380" (include "dzug.etcd.name" $) $i $scheme (include "dzug.etcd.memberHost" (list $ $i))) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{/* Secret holding the etcd account passwords (root-password, <account>-password). */}}
{{- define "dzug.etcd.secretName" -}}
{{- default (printf "%s-etcd" (include "dzug.fullname" .)) .Values.etcd.auth.existingSecret -}}
{{- end -}}

{{/* The etcd accounts besides root: one per gRPC service (registers itself) and each reader (the gateway). */}}
{{- define "dzug.etcd.accounts" -}}
{{- join " " (concat (include "dzug.grpcServices" . | fromJsonArray) (include "dzug.etcd.readers" . | fromJsonArray)) -}}
{{- end -}}

{{/* The accounts the etcd admin commands set up or check, and where their passwords are mounted (the etcd Secret). */}}
{{- define "dzug.etcd.accountsEnv" -}}
- name: DZUG_ACCOUNTS_SERVICES
  value: {{ include "dzug.grpcServices" . | fromJsonArray | join "," | quote }}
- name: DZUG_ACCOUNTS_READERS
  value: {{ include "dzug.etcd.readers" . | fromJsonArray | join "," | quote }}
- name: DZUG_ACCOUNTS_PASSWORDS_DIR
  value: /etc/dzug/etcd-accounts
{{- end -}}

{{/*
How a dzug container reaches etcd as `account` (root for administration): endpoints, user and password
from the Secret, the client CA when the client port speaks TLS. Call with (dict "ctx" $ "account" "user").
*/}}
{{- define "dzug.env.etcdAccess" -}}
{{- $ctx := .ctx -}}
- name: DZUG_ETCD_ENDPOINTS
  value: {{ include "dzug.etcd.endpoints" $ctx | quote }}
- name: DZUG_ETCD_DIAL_TIMEOUT_MS
  value: {{ $ctx.Values.config.etcdDialTimeoutMs | quote }}
{{- if $ctx.Values.etcd.auth.enabled }}
- name: DZUG_ETCD_USERNAME
  value: {{ .account | quote }}
- name: DZUG_ETCD_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dzug.etcd.secretName" $ctx }}
      key: {{ .account }}-password
{{- end }}
{{- if $ctx.Values.etcd.tls.client.existingSecret }}
- name: DZUG_ETCD_TLS_CA_FILE
  value: /etc/dzug/etcd-client-tls/ca.crt
{{- end }}
{{- end -}}

{{/* Volume and mount of the etcd client CA (only with etcd.tls.client.existingSecret). */}}
{{- define "dzug.etcd.clientTlsVolume" -}}
{{- if .Values.etcd.tls.client.existingSecret }}
- name: etcd-client-tls
  secret:
    secretName: {{ .Values.etcd.tls.client.existingSecret }}
{{- end }}
{{- end -}}
{{- define "dzug.etcd.clientTlsMount" -}}
{{- if .Values.etcd.tls.client.existingSecret }}
- name: etcd-client-tls
  mountPath: /etc/dzug/etcd-client-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* PostgreSQL */}}
{{- define "dzug.postgresql.name" -}}{{ include "dzug.componentName" (dict "ctx" . "component" "postgresql") }}{{- end -}}
{{- define "dzug.postgresql.external" -}}
{{- if or .Values.postgresql.external.url .Values.postgresql.external.existingSecret -}}true{{- end -}}
{{- end -}}
{{- define "dzug.postgresql.deployed" -}}
{{- if and .Values.postgresql.enabled (not (include "dzug.postgresql.external" .)) -}}true{{- end -}}
{{- end -}}

{{/* Secret and key the services read DZUG_DATABASE_URL from. */}}
{{- define "dzug.database.secretName" -}}
{{- if .Values.postgresql.external.existingSecret -}}
{{- .Values.postgresql.external.existingSecret -}}
{{- else if and (not .Values.postgresql.external.url) .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else -}}
{{- printf "%s-database" (include "dzug.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- define "dzug.database.secretKey" -}}
{{- if .Values.postgresql.external.existingSecret -}}
{{- .Values.postgresql.external.existingSecretKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{/* JWT secret */}}
{{- define "dzug.auth.secretName" -}}
{{- default (printf "%s-auth" (include "dzug.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "dzug.auth.secretKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKey }}{{- else -}}jwt-secret{{- end -}}
{{- end -}}

{{/*
Grace period: preStop sleep + propagation delay + drain timeout + margin, in whole seconds, so a drain
always finishes before SIGKILL. Call with (list $ preStopSeconds propagationDelayMs).
*/}}
{{- define "dzug.terminationGrace" -}}
{{- $ctx := index . 0 -}}
{{- $drain := div (add (int $ctx.Values.config.shutdownDrainTimeoutMs) 999) 1000 -}}
{{- $propagation := div (add (int (index . 2)) 999) 1000 -}}
{{- add $drain (int (index . 1)) $propagation (int $ctx.Values.config.terminationGraceExtraSeconds) -}}
{{- end -}}

{{/* Environment shared by every dzug process. */}}
{{- define "dzug.env.common" -}}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d --max-semi-space-size=%d" (int .Values.config.maxOldSpaceMiB) (int .Values.config.maxSemiSpaceMiB) | quote }}
- name: DZUG_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: DZUG_DISCOVERY_PREFIX
  value: {{ .Values.config.discovery.prefix | quote }}
- name: DZUG_SHUTDOWN_DRAIN_TIMEOUT_MS
  value: {{ .Values.config.shutdownDrainTimeoutMs | quote }}
- name: DZUG_BALANCER_STRATEGY
  value: {{ .Values.config.balancer.strategy | quote }}
- name: DZUG_BALANCER_MAX_ATTEMPTS
  value: {{ .Values.config.balancer.maxAttempts | quote }}
- name: DZUG_BALANCER_DEADLINE_MS
  value: {{ .Values.config.balancer.deadlineMs | quote }}
- name: DZUG_OVERLOAD_MAX_IN_FLIGHT
  value: {{ .Values.config.overload.maxInFlight | quote }}
- name: DZUG_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS
  value: {{ .Values.config.overload.maxEventLoopDelayMs | quote }}
- name: DZUG_BALANCER_EJECTION_CONSECUTIVE_FAILURES
  value: {{ .Values.config.balancer.ejection.consecutiveFailures | quote }}
- name: DZUG_BALANCER_EJECTION_BASE_MS
  value: {{ .Values.config.balancer.ejection.baseMs | quote }}
- name: DZUG_BALANCER_EJECTION_MAX_MS
  value: {{ .Values.config.balancer.ejection.maxMs | quote }}
- name: DZUG_BALANCER_EWMA_DECAY_MS
  value: {{ .Values.config.balancer.ewmaDecayMs | quote }}
- name: DZUG_BALANCER_FORCE_PICK_MS
  value: {{ .Values.config.balancer.forcePickMs | quote }}
- name: DZUG_BALANCER_LEAST_REQUEST_BIAS
  value: {{ .Values.config.balancer.leastRequestBias | quote }}
- name: DZUG_BALANCER_SLOW_START_WINDOW_MS
  value: {{ .Values.config.balancer.slowStart.windowMs | quote }}
- name: DZUG_BALANCER_SLOW_START_AGGRESSION
  value: {{ .Values.config.balancer.slowStart.aggression | quote }}
- name: DZUG_BALANCER_SLOW_START_MIN_WEIGHT_PERCENT
  value: {{ .Values.config.balancer.slowStart.minWeightPercent | quote }}
- name: DZUG_BALANCER_ZONE_PREFER_LOCAL
  value: {{ .Values.config.balancer.zone.preferLocal | quote }}
- name: DZUG_BALANCER_ZONE_MIN_INSTANCES
  value: {{ .Values.config.balancer.zone.minInstances | quote }}
- name: DZUG_BALANCER_ZONE_MAX_IN_FLIGHT_PER_INSTANCE
  value: {{ .Values.config.balancer.zone.maxInFlightPerInstance | quote }}
{{- if .Values.config.discovery.zoneFromPodLabel }}
{{- /* The downward API reads the pod's labels only; the node's zone reaches them through PodTopologyLabelsAdmission. */}}
- name: DZUG_DISCOVERY_ZONE
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['topology.kubernetes.io/zone']
{{- else if .Values.config.discovery.zone }}
- name: DZUG_DISCOVERY_ZONE
  value: {{ .Values.config.discovery.zone | quote }}
{{- end }}
{{- end -}}

{{/* The gateway's strategy per called service (config.balancer.services). */}}
{{- define "dzug.env.serviceStrategies" -}}
{{- range $svc, $strategy := .Values.config.balancer.services }}
{{- if $strategy }}
- name: DZUG_SERVICES_{{ $svc | upper }}_STRATEGY
  value: {{ $strategy | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dzug.env.jwt" -}}
- name: DZUG_AUTH_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "dzug.auth.secretName" . }}
      key: {{ include "dzug.auth.secretKey" . }}
{{- end -}}

{{/* The gateway's rate limits and trusted proxies (docs/gateway.md). */}}
{{- define "dzug.env.rateLimit" -}}
- name: DZUG_HTTP_TRUST_PROXY
  value: {{ .Values.config.trustProxy | quote }}
- name: DZUG_HTTP_TRUST_PROXY_HOPS
  value: {{ .Values.config.trustProxyHops | quote }}
{{- range $name := list "registerPerAddress" "loginPerAddress" "loginFailuresPerUsernameAndAddress" "loginFailuresPerUsername" "loginFailuresPerDevice" "apiPerAddress" }}
{{- $rule := index $.Values.config.rateLimit $name }}
{{- $env := printf "DZUG_RATE_LIMIT_%s" ($name | snakecase | upper) }}
- name: {{ $env }}_BURST
  value: {{ $rule.burst | quote }}
- name: {{ $env }}_PER_MINUTE
  value: {{ $rule.perMinute | quote }}
{{- end }}
- name: DZUG_RATE_LIMIT_CREDENTIALS_IN_FLIGHT_PER_ADDRESS
  value: {{ .Values.config.rateLimit.credentialsInFlightPerAddress | quote }}
- name: DZUG_RATE_LIMIT_CREDENTIALS_IN_FLIGHT
  value: {{ .Values.config.rateLimit.credentialsInFlight | quote }}
- name: DZUG_RATE_LIMIT_MAX_TRACKED_KEYS
  value: {{ .Values.config.rateLimit.maxTrackedKeys | quote }}
{{- end -}}

{{/* The admin listener of every dzug process (config admin.port; the gateway's too): /metrics, /healthz, /readyz
and the gateway's /_dzug/status, as container and Service port "metrics". */}}
{{- define "dzug.adminPort" -}}9464{{- end -}}

{{/* What the Ingress/HTTPRoute route to the gateway: the douyin API and its OpenAPI document, nothing else. */}}
{{- define "dzug.apiPaths" -}}
[{"path": "/douyin", "type": "Prefix"}, {"path": "/openapi.json", "type": "Exact"}]
{{- end -}}

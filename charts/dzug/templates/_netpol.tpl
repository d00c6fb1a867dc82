{{- /* Peers and rules of the NetworkPolicies (networkpolicy.yaml). Egress ports are pod ports by number: a
Service's traffic is matched after it is translated to a pod address, and named egress ports are not enforced
the same way by every CNI. */ -}}

{{- /* A NetworkPolicyPeer selecting the release's pods of one component. Args: dict "ctx" $ "component" <name>. */ -}}
{{- define "dzug.netpol.podPeer" -}}
- podSelector:
    matchLabels:
      {{- include "dzug.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- /* Peers for the Gateway API implementation's proxies: networkPolicy.gatewayApiFrom when set, else the namespace of
each HTTPRoute parentRef that is a Gateway (its namespace defaults to the route's); nothing when no HTTPRoute renders. */ -}}
{{- define "dzug.netpol.gatewayApiPeers" -}}
{{- if include "dzug.crdEnabled" (dict "ctx" . "kind" "httpRoute") -}}
{{- if .Values.networkPolicy.gatewayApiFrom -}}
{{- toYaml .Values.networkPolicy.gatewayApiFrom -}}
{{- else -}}
{{- $namespaces := list -}}
{{- range $ref := .Values.httpRoute.parentRefs -}}
{{- if and (eq ($ref.kind | default "Gateway") "Gateway") (eq ($ref.group | default "gateway.networking.k8s.io") "gateway.networking.k8s.io") -}}
{{- $namespaces = append $namespaces ($ref.namespace | default $.Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- range $ns := $namespaces | uniq }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $ns }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* "true" when the egress policies are on. */ -}}
{{- define "dzug.netpol.egressOn" -}}
{{- if and .Values.networkPolicy.enabled .Values.networkPolicy.egress.enabled }}true{{ end -}}
{{- end -}}

{{- /* policyTypes of a component's policy. */ -}}
{{- define "dzug.netpol.policyTypes" -}}
policyTypes: [Ingress{{ if include "dzug.netpol.egressOn" . }}, Egress{{ end }}]
{{- end -}}

{{- /* "true" when a dzug container's environment names an OTLP endpoint (OpenTelemetry tracing on). */ -}}
{{- define "dzug.netpol.tracing" -}}
{{- $envs := .Values.config.extraEnv -}}
{{- range $c := concat (include "dzug.grpcServices" . | fromJsonArray) (list "gateway") -}}
{{- $envs = concat $envs ((get $.Values $c).extraEnv | default list) -}}
{{- end -}}
{{- range $e := $envs -}}
{{- if has $e.name (list "OTEL_EXPORTER_OTLP_ENDPOINT" "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") }}true{{ end -}}
{{- end -}}
{{- end -}}

{{- /* Egress rules of one component (gateway, a gRPC service, etcd, postgresql, test, etcd-admin), as the items of
`egress:`. Args: dict "ctx" $ "component" <name>. */ -}}
{{- define "dzug.netpol.egress" -}}
{{- $ctx := .ctx -}}
{{- $c := .component -}}
{{- $eg := $ctx.Values.networkPolicy.egress -}}
{{- $services := include "dzug.grpcServices" $ctx | fromJsonArray -}}
{{- $isService := has $c $services -}}
{{- $isProcess := or $isService (eq $c "gateway") -}}
# DNS (UDP and TCP: answers too large for UDP are retried over TCP).
- to:
    {{- toYaml $eg.dnsTo | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- if or $isProcess (has $c (list "etcd" "etcd-admin" "test")) }}
# etcd's client port (the members also join and check each other through it).
- to:
    {{- include "dzug.netpol.podPeer" (dict "ctx" $ctx "component" "etcd") | nindent 4 }}
  ports:
    - {port: 2379, protocol: TCP}
{{- end }}
{{- if eq $c "etcd" }}
# Raft between members; with client auth on, the status port too (member-init asks whether a cluster exists).
- to:
    {{- include "dzug.netpol.podPeer" (dict "ctx" $ctx "component" "etcd") | nindent 4 }}
  ports:
    - {port: 2380, protocol: TCP}
    {{- if $ctx.Values.etcd.auth.enabled }}
    - {port: 2382, protocol: TCP}
    {{- end }}
{{- end }}
{{- /* The services this one calls: the gateway and the test pods call all of them. */ -}}
{{- $callees := list -}}
{{- if has $c (list "gateway" "test") -}}
{{- $callees = $services -}}
{{- else if $isService -}}
{{- range $callee, $callers := include "dzug.serviceCallers" $ctx | fromJson -}}
{{- if has $c $callers }}{{ $callees = append $callees $callee }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if $callees }}
# gRPC of the services it calls.
- to:
    {{- range $callee := $callees }}
    {{- include "dzug.netpol.podPeer" (dict "ctx" $ctx "component" $callee) | nindent 4 }}
    {{- end }}
  ports:
    - {port: 50051, protocol: TCP}
{{- end }}
{{- if eq $c "test" }}
# The helm test pods check the gateway's API and admin ports.
- to:
    {{- include "dzug.netpol.podPeer" (dict "ctx" $ctx "component" "gateway") | nindent 4 }}
  ports:
    - {port: 8080, protocol: TCP}
    - {port: {{ include "dzug.adminPort" $ctx }}, protocol: TCP}
{{- end }}
{{- if $isService }}
# PostgreSQL.
{{- if include "dzug.postgresql.deployed" $ctx }}
- to:
    {{- include "dzug.netpol.podPeer" (dict "ctx" $ctx "component" "postgresql") | nindent 4 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else }}
{{- if not $eg.databaseTo }}
{{- fail "networkPolicy.egress.enabled with an external PostgreSQL needs networkPolicy.egress.databaseTo: the peers (e.g. [{ipBlock: {cidr: 10.0.5.10/32}}]) the services may reach on networkPolicy.egress.databasePort" }}
{{- end }}
- to:
    {{- toYaml $eg.databaseTo | nindent 4 }}
  ports:
    - {port: {{ $eg.databasePort }}, protocol: TCP}
{{- end }}
{{- end }}
{{- if and $isProcess (include "dzug.netpol.tracing" $ctx) }}
{{- if not $eg.otlpTo }}
{{- fail "networkPolicy.egress.enabled with an OTLP endpoint in extraEnv (OTEL_EXPORTER_OTLP_ENDPOINT) needs networkPolicy.egress.otlpTo: the peers of the trace collector (e.g. [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: observability}}}])" }}
{{- end }}
# The OTLP trace collector.
- to:
    {{- toYaml $eg.otlpTo | nindent 4 }}
  ports:
    {{- range $p := $eg.otlpPorts }}
    - {port: {{ $p }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end -}}

{{- /*
Objects of kinds that CRDs add (Prometheus Operator, Gateway API): their values key, API, CRD and where the
CRD comes from, in one place for the templates, NOTES and the render-time failure. A key is
  false  never rendered;
  auto   rendered when the cluster serves the API (.Capabilities.APIVersions), silently left out otherwise;
  true   asked for explicitly: rendered, and a cluster without the API fails the install naming the CRD
         (instead of Kubernetes' "no matches for kind" half-way through an install).
`helm template` knows a cluster's APIs only from --api-versions (Argo CD passes the cluster's).
*/ -}}
{{- define "dzug.crdKinds" -}}
serviceMonitor:
  key: metrics.serviceMonitor.enabled
  api: monitoring.coreos.com/v1/ServiceMonitor
  crd: servicemonitors.monitoring.coreos.com
  from: the Prometheus Operator CRDs (kube-prometheus-stack, or the prometheus-operator-crds chart)
podMonitor:
  key: metrics.podMonitor.enabled
  api: monitoring.coreos.com/v1/PodMonitor
  crd: podmonitors.monitoring.coreos.com
  from: the Prometheus Operator CRDs (kube-prometheus-stack, or the prometheus-operator-crds chart)
prometheusRule:
  key: metrics.prometheusRule.enabled
  api: monitoring.coreos.com/v1/PrometheusRule
  crd: prometheusrules.monitoring.coreos.com
  from: the Prometheus Operator CRDs (kube-prometheus-stack, or the prometheus-operator-crds chart)
httpRoute:
  key: httpRoute.enabled
  api: gateway.networking.k8s.io/v1/HTTPRoute
  crd: httproutes.gateway.networking.k8s.io
  from: the Gateway API standard CRDs (standard-install.yaml of a kubernetes-sigs/gateway-api release, or your Gateway controller's chart)
{{- end -}}

{{- /* The value of a kind's key (true, false or "auto"). Args: dict "ctx" $ "kind" <name in dzug.crdKinds>. */ -}}
{{- define "dzug.crdSetting" -}}
{{- $c := get (include "dzug.crdKinds" .ctx | fromYaml) .kind -}}
{{- $v := .ctx.Values -}}
{{- range splitList "." $c.key }}{{ $v = get $v . }}{{ end -}}
{{- toString $v -}}
{{- end -}}

{{- /* "true" when the kind renders, "" when not; fails when it is asked for (true) and its API is missing.
Args: dict "ctx" $ "kind" <name in dzug.crdKinds>. */ -}}
{{- define "dzug.crdEnabled" -}}
{{- $c := get (include "dzug.crdKinds" .ctx | fromYaml) .kind -}}
{{- $setting := include "dzug.crdSetting" . -}}
{{- $has := .ctx.Capabilities.APIVersions.Has $c.api -}}
{{- if eq $setting "auto" -}}
{{- if $has }}true{{ end -}}
{{- else if eq $setting "true" -}}
{{- if not $has -}}
{{- fail (printf "%s=true, but the cluster has no %s API: the CRD %s is missing. Install %s first, or set %s=auto to render it only where the CRD exists (with helm template, pass --api-versions %s when the target cluster has it)." $c.key $c.api $c.crd $c.from $c.key $c.api) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

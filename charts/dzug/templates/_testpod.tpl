{{/* Hardened pod spec bits shared by the helm test pods. */}}
{{- define "dzug.testPodSecurity" -}}
automountServiceAccountToken: false
restartPolicy: Never
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}
{{- define "dzug.testContainerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
resources:
  requests: {cpu: 10m, memory: 16Mi}
  limits: {memory: 64Mi}
{{- end -}}

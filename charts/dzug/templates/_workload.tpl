{{/*
Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler of one dzug process.
Call with (dict "ctx" $ "component" <a name of dzug.grpcServices or "gateway">).
*/}}
{{- define "dzug.workload" -}}
{{- $ctx := .ctx -}}
{{- $c := .component -}}
{{- $v := index $ctx.Values $c -}}
{{- $name := include "dzug.componentName" (dict "ctx" $ctx "component" $c) -}}
{{- $isGateway := eq $c "gateway" -}}
{{- $preStop := 0 -}}
{{- $propagationMs := 500 -}}{{- /* the services' config default: their callers watch etcd */ -}}
{{- if $isGateway }}{{ $preStop = int $v.preStopSleepSeconds }}{{ $propagationMs = int $v.propagationDelayMs }}{{ end -}}
{{- $adminPort := include "dzug.adminPort" $ctx | int -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "dzug.labels" (dict "ctx" $ctx "component" $c) | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "dzug.selectorLabels" (dict "ctx" $ctx "component" $c) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "dzug.labels" (dict "ctx" $ctx "component" $c) | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- if $ctx.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $adminPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "dzug.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      # No service-link variables: Services named <release>-dzug-* would inject DZUG_*_PORT/_HOST noise.
      enableServiceLinks: false
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "dzug.terminationGrace" (list $ctx $preStop $propagationMs) }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $c }}
          image: {{ include "dzug.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          # docs/architecture.md: `node <main>` with WORKDIR /app.
          command: ["node"]
          {{- if $isGateway }}
          args: ["gateway/main.ts"]
          {{- else }}
          args: ["services/{{ $c }}/main.ts"]
          {{- end }}
          env:
            {{- include "dzug.env.common" $ctx | nindent 12 }}
            {{- include "dzug.env.etcdAccess" (dict "ctx" $ctx "account" $c) | nindent 12 }}
            - name: DZUG_ADMIN_PORT
              value: {{ $adminPort | quote }}
            {{- if $isGateway }}
            - name: DZUG_HTTP_PORT
              value: "8080"
            - name: DZUG_SHUTDOWN_PROPAGATION_DELAY_MS
              value: {{ $propagationMs | quote }}
            {{- include "dzug.env.jwt" $ctx | nindent 12 }}
            {{- include "dzug.env.rateLimit" $ctx | nindent 12 }}
            {{- include "dzug.env.serviceStrategies" $ctx | nindent 12 }}
            {{- else }}
            # Every address of the pod, IPv6 and IPv4 (an IPv6-only pod is reached at its advertised podIP).
            - name: DZUG_GRPC_HOST
              value: "::"
            - name: DZUG_GRPC_PORT
              value: "50051"
            - name: DZUG_DISCOVERY_ADVERTISE_HOST
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: DZUG_DISCOVERY_LEASE_TTL_SECONDS
              value: {{ $ctx.Values.config.discovery.leaseTtlSeconds | quote }}
            - name: DZUG_DISCOVERY_WEIGHT
              value: {{ $ctx.Values.config.discovery.weight | quote }}
            - name: DZUG_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "dzug.database.secretName" $ctx }}
                  key: {{ include "dzug.database.secretKey" $ctx }}
            - name: DZUG_DATABASE_CONNECT_TIMEOUT_MS
              value: {{ $ctx.Values.config.database.connectTimeoutMs | quote }}
            - name: DZUG_DATABASE_STATEMENT_TIMEOUT_MS
              value: {{ $ctx.Values.config.database.statementTimeoutMs | quote }}
            {{- if eq $c "user" }}
            {{- include "dzug.env.jwt" $ctx | nindent 12 }}
            - name: DZUG_AUTH_TOKEN_TTL_SECONDS
              value: {{ $ctx.Values.auth.tokenTtlSeconds | quote }}
            - name: DZUG_PASSWORDS_MAX_CONCURRENT
              value: {{ $ctx.Values.config.passwords.maxConcurrent | quote }}
            - name: DZUG_PASSWORDS_MAX_QUEUED
              value: {{ $ctx.Values.config.passwords.maxQueued | quote }}
            - name: DZUG_PASSWORDS_MAX_QUEUED_PER_CLIENT
              value: {{ $ctx.Values.config.passwords.maxQueuedPerClient | quote }}
            {{- end }}
            {{- if eq $c "relation" }}
            - name: DZUG_LISTS_MAX_LENGTH
              value: {{ $ctx.Values.config.lists.maxLength | quote }}
            {{- end }}
            {{- end }}
            {{- with $ctx.Values.config.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- if $isGateway }}
            - name: http
              containerPort: 8080
              protocol: TCP
            {{- else }}
            - name: grpc
              containerPort: 50051
              protocol: TCP
            {{- end }}
            - name: metrics
              containerPort: {{ $adminPort }}
              protocol: TCP
          {{- if $isGateway }}
          # The admin listener: the API port ("http") serves the API only.
          startupProbe:
            httpGet: {path: /healthz, port: metrics}
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet: {path: /healthz, port: metrics}
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          # Ready while some upstream has an instance: routes of an upstream without one answer 503
          # (docs/gateway.md), the rest of the API stays in the Ingress.
          readinessProbe:
            httpGet: {path: /readyz, port: metrics}
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          {{- else }}
          # gRPC health "liveness" answers while the process runs; "" follows readiness
          # (registered in etcd, database reachable, not draining), like /readyz on the admin port.
          startupProbe:
            grpc: {port: 50051, service: liveness}
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            grpc: {port: 50051, service: liveness}
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            grpc: {port: 50051}
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          {{- end }}
          {{- if gt $preStop 0 }}
          lifecycle:
            preStop:
              {{- /* The sleep action is GA (on by default) from Kubernetes 1.30; older API servers reject the
              field. There, exec the image's own sleep (the dzug image is Debian-based: coreutils). */}}
              {{- if semverCompare ">=1.30-0" $ctx.Capabilities.KubeVersion.Version }}
              sleep:
                seconds: {{ $preStop }}
              {{- else }}
              exec:
                command: ["sleep", "{{ $preStop }}"]
              {{- end }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- include "dzug.etcd.clientTlsMount" $ctx | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- include "dzug.etcd.clientTlsVolume" $ctx | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.affinity }}
      affinity:
        {{- toYaml $v.affinity | nindent 8 }}
      {{- else }}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "dzug.selectorLabels" (dict "ctx" $ctx "component" $c) | nindent 20 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "dzug.labels" (dict "ctx" $ctx "component" $c) | nindent 4 }}
  {{- with $v.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "dzug.selectorLabels" (dict "ctx" $ctx "component" $c) | nindent 4 }}
  ports:
    {{- if $isGateway }}
    - name: http
      port: {{ $v.service.port }}
      targetPort: http
      protocol: TCP
    {{- else }}
    - name: grpc
      port: 50051
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- end }}
    - name: metrics
      port: {{ $adminPort }}
      targetPort: metrics
      protocol: TCP
{{- if $v.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "dzug.labels" (dict "ctx" $ctx "component" $c) | nindent 4 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "dzug.selectorLabels" (dict "ctx" $ctx "component" $c) | nindent 6 }}
{{- end }}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "dzug.labels" (dict "ctx" $ctx "component" $c) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    {{- if $v.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if $v.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
{{- end }}
{{- end -}}

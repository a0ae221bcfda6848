{{/*
The deployable targets, in start-up order, with what the chart needs to know
about each: its role (service: a gRPC API behind Envoy, with mTLS; worker:
background work only; gateway: REST and gRPC-web) and, for services, the gRPC
package Envoy routes to it and the service its health checks ask about.
*/}}
{{- define "freedumb.catalog" -}}
- { name: auth, role: service, grpcService: freedumb.auth.v1.AuthService }
- { name: ledger, role: service, grpcService: freedumb.ledger.v1.LedgerService }
- { name: worker-recurring, role: worker }
- { name: budget, role: service, grpcService: freedumb.budget.v1.BudgetService }
- { name: notification, role: service, grpcService: freedumb.notification.v1.NotificationService }
- { name: worker-notification, role: worker }
- { name: ai, role: service, grpcService: freedumb.ai.v1.AiService }
- { name: investment, role: service, grpcService: freedumb.investment.v1.InvestmentService }
- { name: worker-investment-price, role: worker }
- { name: analytics, role: service, grpcService: freedumb.analytics.v1.AnalyticsService }
- { name: gateway, role: gateway }
{{- end -}}

{{- define "freedumb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release: the image tag (default: the chart's appVersion). */}}
{{- define "freedumb.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "freedumb.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "freedumb.tag" .) -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; pass (dict "ctx" $ "name" "freedumb" "component" "auth"). */}}
{{- define "freedumb.labels" -}}
helm.sh/chart: {{ include "freedumb.chart" .ctx }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: freedumb
app.kubernetes.io/version: {{ include "freedumb.tag" .ctx | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{/* Selector labels; same arguments. */}}
{{- define "freedumb.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The pod security context of FREEDUMB pods (uid/gid 10001 in the image). */}}
{{- define "freedumb.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "freedumb.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities: { drop: [ALL] }
{{- end -}}

{{/* A PodDisruptionBudget spec body from a pdb value: minAvailable wins. */}}
{{- define "freedumb.pdbBudget" -}}
{{- if and (hasKey . "minAvailable") (not (kindIs "invalid" .minAvailable)) -}}
minAvailable: {{ .minAvailable }}
{{- else -}}
maxUnavailable: {{ .maxUnavailable | default 1 }}
{{- end -}}
{{- end -}}

{{/* The topology spread of a Deployment's pods: the replicas of one revision
on different nodes (required) and zones (best effort). */}}
{{- define "freedumb.topologySpread" -}}
topologySpreadConstraints:
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: DoNotSchedule
  labelSelector:
    matchLabels: { app.kubernetes.io/part-of: freedumb }
  matchLabelKeys: [app.kubernetes.io/component, pod-template-hash]
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels: { app.kubernetes.io/part-of: freedumb }
  matchLabelKeys: [app.kubernetes.io/component, pod-template-hash]
{{- end -}}

{{/* An HPA spec body from an autoscaling value and the Deployment's name. */}}
{{- define "freedumb.hpaSpec" -}}
scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: {{ .name }} }
minReplicas: {{ .autoscaling.minReplicas }}
maxReplicas: {{ .autoscaling.maxReplicas }}
metrics:
- type: Resource
  resource:
    name: cpu
    target: { type: Utilization, averageUtilization: {{ .autoscaling.targetCPUUtilizationPercentage }} }
behavior:
  scaleDown:
    stabilizationWindowSeconds: 300
    policies:
    - { type: Pods, value: 1, periodSeconds: 60 }
{{- end -}}

{{- define "portico.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "portico.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "portico.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "portico.labels" -}}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "portico.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "portico.electionID" -}}
{{- .Values.controller.electionID | default (printf "%s-leader" (include "portico.fullname" .)) -}}
{{- end -}}

{{- define "portico.watchNamespace" -}}
{{- if .Values.controller.scope.enabled -}}
{{- .Values.controller.scope.namespace | default .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- /* NET_BIND_SERVICE only when a container port below 1024 is asked for. */ -}}
{{- define "portico.privilegedPort" -}}
{{- if or (lt (int .Values.controller.containerPort.http) 1024) (lt (int .Values.controller.containerPort.https) 1024) (lt (int .Values.controller.metrics.port) 1024) -}}
true
{{- end -}}
{{- end -}}

{{- define "portico.namespacedRules" }}
- apiGroups: [""]
  resources: [services, secrets]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

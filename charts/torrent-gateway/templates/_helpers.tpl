{{/* Names and labels shared by every template; names are truncated to 63 characters. */}}

{{- define "torrent-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "torrent-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "torrent-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "torrent-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "torrent-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "torrent-gateway.labels" -}}
helm.sh/chart: {{ include "torrent-gateway.chart" . }}
{{ include "torrent-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "torrent-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "torrent-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "torrent-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The leader Lease's name: one per release, so two releases never elect each other. */}}
{{- define "torrent-gateway.lease" -}}
{{- include "torrent-gateway.fullname" . }}
{{- end }}

{{/*
Cluster-scoped objects (ClusterRole, ClusterRoleBinding) carry the namespace too: two releases of
the same name in two namespaces must not overwrite each other's.
*/}}
{{- define "torrent-gateway.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "torrent-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Chart name, at most 63 characters. */}}
{{- define "lorastream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; each object appends its component (-batcher, -gateway, ...). */}}
{{- define "lorastream.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lorastream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "lorastream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels; callers add app.kubernetes.io/component. */}}
{{- define "lorastream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lorastream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lorastream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The Secret holding the gateway's API key file. */}}
{{- define "lorastream.tenantKeysSecret" -}}
{{- if .Values.gateway.tenantKeys.existingSecret }}
{{- .Values.gateway.tenantKeys.existingSecret }}
{{- else }}
{{- include "lorastream.fullname" . }}-tenant-keys
{{- end }}
{{- end }}

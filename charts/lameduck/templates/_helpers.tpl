{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "lameduck.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name plus chart name unless it already holds it. */}}
{{- define "lameduck.fullname" -}}
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

{{- define "lameduck.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "lameduck.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lameduck.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "lameduck.labels" -}}
helm.sh/chart: {{ include "lameduck.chart" . }}
{{ include "lameduck.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: webhook
app.kubernetes.io/part-of: lameduck
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "lameduck.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lameduck.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key for the HTTPS port. */}}
{{- define "lameduck.tlsSecretName" -}}
{{- if eq .Values.certs.mode "existing" }}
{{- required "certs.existing.secretName is required when certs.mode=existing" .Values.certs.existing.secretName }}
{{- else }}
{{- printf "%s-tls" (include "lameduck.fullname" .) }}
{{- end }}
{{- end }}

{{/* Image reference: digest wins over tag; tag defaults to appVersion. */}}
{{- define "lameduck.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The pod's grace period: it must cover preStop sleep + drain delay + shutdown
timeout. Default: that sum plus 5s of slack. A smaller explicit value fails.
*/}}
{{- define "lameduck.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- $needed := add $s.preStopSleepSeconds $s.drainDelaySeconds $s.shutdownTimeoutSeconds }}
{{- if kindIs "invalid" $s.terminationGracePeriodSeconds }}
{{- add $needed 5 }}
{{- else if lt (int $s.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v) must be at least preStopSleepSeconds + drainDelaySeconds + shutdownTimeoutSeconds (%v)" $s.terminationGracePeriodSeconds $needed) }}
{{- else }}
{{- $s.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The Service's in-cluster DNS names, comma-separated (use with splitList). */}}
{{- define "lameduck.dnsNames" -}}
{{- $svc := include "lameduck.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- printf "%s,%s.%s,%s.%s.svc,%s.%s.svc.cluster.local" $svc $svc $ns $svc $ns $svc $ns }}
{{- end }}

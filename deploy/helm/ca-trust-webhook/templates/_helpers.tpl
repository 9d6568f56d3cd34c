{{- define "ca-trust-webhook.name" -}}
{{- .Chart.Name -}}
{{- end }}

{{- define "ca-trust-webhook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "ca-trust-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ca-trust-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ca-trust-webhook.labels" -}}
{{ include "ca-trust-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "ca-trust-webhook.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{- define "ca-trust-webhook.tlsSecretName" -}}
{{- if eq .Values.certificate.mode "secret" -}}
{{- required "certificate.secret.name is required in certificate mode secret" .Values.certificate.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "ca-trust-webhook.fullname" .) -}}
{{- end -}}
{{- end }}

{{- define "ca-trust-webhook.clientConfig" -}}
{{- $root := .root -}}
service:
  name: {{ include "ca-trust-webhook.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  port: {{ $root.Values.service.port }}
  path: {{ .path }}
{{- if and (eq $root.Values.certificate.mode "secret") $root.Values.certificate.secret.caBundle }}
caBundle: {{ $root.Values.certificate.secret.caBundle | b64enc }}
{{- end }}
{{- end }}

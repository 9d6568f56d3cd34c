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

{{- /* The rule table: the built-in rules (files/builtin-rules.yaml), then values.rules, with
the defaults parseRules applies (type reference, versions ["*"], scope Namespaced). */ -}}
{{- define "ca-trust-webhook.rules" -}}
{{- $out := list -}}
{{- range $rule := concat (.Files.Get "files/builtin-rules.yaml" | fromYamlArray) .Values.rules -}}
{{- $r := deepCopy $rule -}}
{{- $_ := set $r "type" ($r.type | default "reference") -}}
{{- if eq $r.type "reference" -}}
{{- $_ := set $r "versions" ($r.versions | default (list "*")) -}}
{{- $_ := set $r "scope" ($r.scope | default "Namespaced") -}}
{{- end -}}
{{- $out = append $out $r -}}
{{- end -}}
{{- toYaml $out -}}
{{- end }}

{{- /* One entry per group/version/resource, kinds in name order (as renderManifests). */ -}}
{{- define "ca-trust-webhook.resourceRules" -}}
{{- $seen := dict -}}
{{- range $rule := . -}}
{{- range $group := $rule.apiGroups -}}
{{- range $version := $rule.versions -}}
{{- range $kind := keys $rule.kinds | sortAlpha -}}
{{- $resource := get $rule.kinds $kind -}}
{{- $key := printf "%s/%s/%s" $group $version $resource -}}
{{- if not (hasKey $seen $key) -}}
{{- $_ := set $seen $key true }}
- apiGroups: [{{ $group | quote }}]
  apiVersions: [{{ $version | quote }}]
  operations: ["CREATE", "UPDATE"]
  resources: [{{ $resource | quote }}]
  scope: {{ $rule.scope }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
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

{{- define "ca-trust-webhook.excludedNamespaces" -}}
- key: kubernetes.io/metadata.name
  operator: NotIn
  values: ["kube-system", "kube-node-lease", {{ .Release.Namespace | quote }}]
{{- end }}

{{- /* CEL helpers, as src/manifests.ts writes them. */ -}}
{{- define "ca-trust-webhook.cel" -}}
'{{ . | replace "\\" "\\\\" | replace "'" "\\'" }}'
{{- end }}

{{- define "ca-trust-webhook.celIn" -}}
{{- $items := list -}}
{{- range .values -}}
{{- $items = append $items (include "ca-trust-webhook.cel" .) -}}
{{- end -}}
{{- printf "%s in [%s]" .subject (join ", " $items) -}}
{{- end }}

{{- define "ca-trust-webhook.optionalPath" -}}
{{- range splitList "." . }}.?{{ . }}{{ end -}}
{{- end }}

{{- /* The namespace rules of each enforced rule as ValidatingAdmissionPolicy validations. */ -}}
{{- define "ca-trust-webhook.validations" -}}
{{- $allowed := .allowed -}}
{{- range $rule := .rules -}}
{{- $gate := printf "%s && %s" (include "ca-trust-webhook.celIn" (dict "subject" "request.kind.group" "values" $rule.apiGroups)) (include "ca-trust-webhook.celIn" (dict "subject" "request.kind.kind" "values" (keys $rule.kinds | sortAlpha))) -}}
{{- range $spec := $rule.references -}}
{{- range $ref := $spec.refs | default list -}}
{{- $refValue := include "ca-trust-webhook.optionalPath" $ref -}}
{{- $unchanged := printf "(request.operation == 'UPDATE' && oldObject%s == object%s)" $refValue $refValue -}}
{{- $ns := "''" -}}
{{- if $spec.namespaceField -}}
{{- $ns = printf "object%s%s.orValue('')" $refValue (include "ca-trust-webhook.optionalPath" $spec.namespaceField) -}}
{{- end -}}
{{- if eq $rule.scope "Namespaced" -}}
{{- if $spec.namespaceField -}}
{{- $path := printf "%s.%s" $ref $spec.namespaceField -}}
{{- $tail := "; cross-namespace CA references are not allowed" }}
- expression: {{ printf "!(%s) || %s in ['', request.namespace] || %s" $gate $ns $unchanged | quote }}
  message: {{ printf "%s: Forbidden: must be the object's namespace%s" $path $tail | quote }}
  messageExpression: {{ printf "%s + request.namespace + %s + request.kind.kind + %s" (include "ca-trust-webhook.cel" (printf `%s: Forbidden: must be "` $path)) (include "ca-trust-webhook.cel" `" (the `) (include "ca-trust-webhook.cel" (printf "'s namespace)%s" $tail)) | quote }}
  reason: Forbidden
{{- end -}}
{{- else -}}
{{- $at := printf "%s.%s" $ref ($spec.namespaceField | default ($spec.nameField | default "name")) -}}
{{- $required := printf "%s: Required value: a cluster-scoped " $at -}}
{{- $requiredTail := " must name the CA Secret's namespace" }}
- expression: {{ printf "!(%s) || !object%s.hasValue() || %s != '' || %s" $gate $refValue $ns $unchanged | quote }}
  message: {{ printf "%sobject%s" $required $requiredTail | quote }}
  messageExpression: {{ printf "%s + request.kind.kind + %s" (include "ca-trust-webhook.cel" $required) (include "ca-trust-webhook.cel" $requiredTail) | quote }}
  reason: Invalid
{{- if and $allowed $spec.namespaceField -}}
{{- $quoted := list -}}
{{- range $allowed -}}{{- $quoted = append $quoted (printf "%q" .) -}}{{- end -}}
{{- $forbidden := printf "%s: Forbidden: must be one of %s" $at (join ", " $quoted) }}
- expression: {{ printf "!(%s) || %s || %s" $gate (include "ca-trust-webhook.celIn" (dict "subject" $ns "values" (prepend $allowed ""))) $unchanged | quote }}
  message: {{ $forbidden | quote }}
  messageExpression: {{ include "ca-trust-webhook.cel" $forbidden | quote }}
  reason: Forbidden
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}

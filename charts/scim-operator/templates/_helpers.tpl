{{/* The prefix of every object's name: the release name, with the chart's name unless it already holds it. */}}
{{- define "scim-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scim-operator.labels" -}}
app.kubernetes.io/name: scim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selects the manager's pods; the same labels as config/manager. */}}
{{- define "scim-operator.selectorLabels" -}}
app.kubernetes.io/name: scim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "scim-operator.serviceAccountName" -}}
{{ include "scim-operator.fullname" . }}-controller-manager
{{- end -}}

{{- define "scim-operator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The manager's rules: config/rbac/role.yaml (generated from controllers/rbac.go), copied by `make manifests`. */}}
{{- define "scim-operator.managerRules" -}}
{{- (.Files.Get "files/manager-role.yaml" | fromYaml).rules | toYaml -}}
{{- end -}}

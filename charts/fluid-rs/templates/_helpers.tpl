{{- define "fluid-rs.name" -}}fluid-rs{{- end }}

{{- define "fluid-rs.fullname" -}}
{{- if contains "fluid-rs" .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-fluid-rs" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "fluid-rs.labels" -}}
app.kubernetes.io/name: fluid-rs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: controller
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "fluid-rs.selectorLabels" -}}
app.kubernetes.io/name: fluid-rs
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fluid-rs.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "fluid-rs.csiLabels" -}}
app.kubernetes.io/name: fluid-rs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: csi-nodeplugin
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "fluid-rs.csiSelectorLabels" -}}
app.kubernetes.io/name: fluid-rs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: csi-nodeplugin
{{- end }}

{{- define "reference.labels" -}}
app: reference
release: {{ .Release.Name }}
app.kubernetes.io/name: reference
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
fluid.io/dataset-id: {{ .Values.ownerDatasetId | quote }}
{{- end }}

{{- define "reference.owner" -}}
{{- if .Values.owner.enabled }}
ownerReferences:
  - apiVersion: {{ .Values.owner.apiVersion }}
    kind: {{ .Values.owner.kind }}
    name: {{ .Values.owner.name }}
    uid: {{ .Values.owner.uid }}
    blockOwnerDeletion: {{ .Values.owner.blockOwnerDeletion }}
    controller: {{ .Values.owner.controller }}
{{- end }}
{{- end }}

{{- define "reference.env" -}}
{{- range $k, $v := . }}
- name: {{ printf "OPTION_%s" ($k | upper | replace "-" "_") }}
  value: {{ $v | quote }}
{{- end }}
{{- end }}

{{- define "vendorfs.labels" -}}
app: vendorfs
release: {{ .Release.Name }}
fluid.io/dataset-id: {{ .Values.ownerDatasetId | quote }}
{{- end }}

{{- define "vendorfs.owner" -}}
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

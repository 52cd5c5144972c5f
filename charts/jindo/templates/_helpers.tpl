{{- define "jindo.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "jindo.labels" -}}
app: jindo
release: {{ .Release.Name }}
app.kubernetes.io/name: jindo
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fluid-rs
fluid.io/dataset-id: {{ .Values.ownerDatasetId | quote }}
fluid.io/jindo-engine: {{ .Values.engineType | quote }}
{{- end }}

{{- define "jindo.owner" -}}
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

{{/* The network of every pod. */}}
{{- define "jindo.network" -}}
{{- if .Values.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- end }}

{{/* Each property file at its path (the images read them at fixed paths). */}}
{{- define "jindo.configMounts" -}}
{{- range .Values.configFiles }}
- name: config
  mountPath: {{ .path }}
  subPath: {{ .name }}
{{- end }}
{{- end }}

{{/* The config volume every container mounts. */}}
{{- define "jindo.configVolume" -}}
- name: config
  configMap:
    name: {{ include "jindo.fullname" . }}-config
    defaultMode: 0755
{{- end }}

{{/* Changed properties roll the pods. */}}
{{- define "jindo.checksum" -}}
checksum/config: {{ include (print .Template.BasePath "/config/configmap.yaml") . | sha256sum }}
{{- end }}

{{- define "alluxio.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "alluxio.labels" -}}
app: {{ .Values.engine.name }}
release: {{ .Release.Name }}
app.kubernetes.io/name: {{ .Values.engine.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fluid-rs
fluid.io/dataset-id: {{ .Values.ownerDatasetId | quote }}
{{- end }}

{{- define "alluxio.owner" -}}
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

{{/* The environment of every container: the runtime's identity and the JVM options shared
by all components, then the role's (.opts under .name), then the user's. */}}
{{- define "alluxio.env" -}}
- name: FLUID_RUNTIME_TYPE
  value: {{ .root.Values.engine.name | quote }}
- name: FLUID_RUNTIME_NS
  value: {{ .root.Values.runtimeIdentity.namespace | quote }}
- name: FLUID_RUNTIME_NAME
  value: {{ .root.Values.runtimeIdentity.name | quote }}
- name: {{ .root.Values.engine.envPrefix }}JAVA_OPTS
  value: {{ .root.Values.javaOpts | quote }}
- name: {{ printf "%s%s" .root.Values.engine.envPrefix .name }}
  value: {{ .opts | quote }}
{{- with .env }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The config volume every container mounts. */}}
{{- define "alluxio.configVolume" -}}
- name: config
  configMap:
    name: {{ include "alluxio.fullname" . }}-config
    defaultMode: 0755
{{- end }}

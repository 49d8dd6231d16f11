{{/* The name of every object of this release. */}}
{{- define "hopguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select hopguard's pods; never change them on upgrade. */}}
{{- define "hopguard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hopguard.labels" -}}
{{ include "hopguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hopguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hopguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The host Istio's sidecars call: meshConfig.extensionProviders[].envoyExtAuthzGrpc.service */}}
{{- define "hopguard.serviceHost" -}}
{{ include "hopguard.fullname" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end -}}

{{/*
"true" when the values configure no issuer and no workload: the pod runs hopguard's embedded demo
(`hopguard serve --demo`, like `npm start`) and the chart renders no ConfigMap. The values schema
refuses one without the other.
*/}}
{{- define "hopguard.demo" -}}
{{- if and (empty .Values.config.issuers) (empty .Values.workloads) -}}true{{- end -}}
{{- end -}}

{{/* Names, labels and the per-service settings every template shares. */}}

{{- define "te.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "te.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's objects: (dict "root" $ "key" "audit"). */}}
{{- define "te.svcName" -}}
{{- printf "%s-%s" (include "te.fullname" .root) .key | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "te.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "te.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "key" "audit"). */}}
{{- define "te.selectorLabels" -}}
app.kubernetes.io/name: {{ include "te.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .key }}
{{- end -}}

{{- define "te.svcLabels" -}}
{{ include "te.labels" .root }}
app.kubernetes.io/component: {{ .key }}
{{- end -}}

{{- define "te.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "te.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Deep merge of map b over map a, as YAML (lists and scalars of b replace a's). */}}
{{- define "te.deepMerge" -}}
{{- $out := deepCopy .a -}}
{{- range $k, $v := .b -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $out $k)) -}}
{{- $_ := set $out $k (include "te.deepMerge" (dict "a" (get $out $k) "b" $v) | fromYaml) -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* A service's settings: .Values.defaults with its own section merged over them, as YAML.
     (dict "root" $ "key" "audit") */}}
{{- define "te.svc" -}}
{{- include "te.deepMerge" (dict "a" .root.Values.defaults "b" (get .root.Values.services .key)) -}}
{{- end -}}

{{/* daprd's graceful shutdown in seconds. */}}
{{- define "te.daprGraceSeconds" -}}
{{- if gt (int .Values.dapr.gracefulShutdownSeconds) 0 -}}
{{- int .Values.dapr.gracefulShutdownSeconds -}}
{{- else -}}
{{- add (int .Values.shutdownTimeoutSeconds) 5 -}}
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: longer than both the app's drain and daprd's. */}}
{{- define "te.terminationGraceSeconds" -}}
{{- $app := int .Values.shutdownTimeoutSeconds -}}
{{- $dapr := int (include "te.daprGraceSeconds" .) -}}
{{- add (max $app $dapr) (int .Values.terminationGraceMarginSeconds) -}}
{{- end -}}

{{/* Image reference of one service: (dict "root" $ "svc" $s). */}}
{{- define "te.image" -}}
{{- $img := .svc.image -}}
{{- $repo := $img.repository -}}
{{- if .root.Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $img.repository -}}
{{- end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default (default .root.Chart.AppVersion .root.Values.image.tag) $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Kafka brokers as pubsub.kafka wants them: one comma-separated string. */}}
{{- define "te.kafkaBrokers" -}}
{{- $b := .Values.kafka.brokers -}}
{{- if kindIs "slice" $b -}}
{{- join "," $b -}}
{{- else -}}
{{- $b -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext of every pod the chart runs (Deployments and the migration Job). */}}
{{- define "te.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* securityContext of every app container (Deployments and the migration Job). */}}
{{- define "te.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Directory the audit service's signing key Secret is mounted in, and the file in it that
     AUDIT_SIGNING_KEY_FILE names. The file name is fixed (the Secret's key is mapped onto it),
     so the path does not change with services.audit.signingKeySecret.key. A directory mount,
     not subPath: kubelet updates it when the Secret is rotated. */}}
{{- define "te.auditSigningKeyDir" -}}/var/run/secrets/taskflow-audit{{- end -}}
{{- define "te.auditSigningKeyFile" -}}{{ include "te.auditSigningKeyDir" . }}/signing-key{{- end -}}

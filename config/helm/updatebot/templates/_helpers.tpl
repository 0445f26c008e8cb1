{{/* The chart's name (nameOverride wins), cut to the 63 characters of a DNS label. */}}
{{- define "updatebot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of every object: the release name if it already holds the chart's name. */}}
{{- define "updatebot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "updatebot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "updatebot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "updatebot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "updatebot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "updatebot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "updatebot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret whose keys become environment variables. */}}
{{- define "updatebot.secretName" -}}
{{- default (include "updatebot.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "updatebot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator config as mounted: values.config, with the bot's own schedule and time zone
taken from .Values.schedule/.Values.timeZone unless config.bot sets them (the run decides
which entries are due from the previous tick of bot.schedule, so it must be the schedule the
CronJob or the serve loop really runs on).
*/}}
{{- define "updatebot.operatorConfig" -}}
{{- $config := deepCopy (default (dict) .Values.config) }}
{{- $bot := default (dict) $config.bot }}
{{- if not (hasKey $bot "schedule") }}
{{- $_ := set $bot "schedule" .Values.schedule }}
{{- end }}
{{- if not (hasKey $bot "timezone") }}
{{- $_ := set $bot "timezone" .Values.timeZone }}
{{- end }}
{{- $_ := set $config "bot" $bot }}
{{- toYaml $config }}
{{- end }}

{{/* Pod-level settings shared by the CronJob's and the Deployment's pods. */}}
{{- define "updatebot.podSettings" -}}
serviceAccountName: {{ include "updatebot.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "updatebot.fullname" . }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmp.sizeLimit }}
  {{- if .Values.secret.mountPath }}
  - name: secrets
    secret:
      secretName: {{ include "updatebot.secretName" . }}
  {{- end }}
{{- end }}

{{/* Container settings shared by both pods (after name, image and args). */}}
{{- define "updatebot.containerSettings" -}}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  # Native tools of the -full image keep their caches under HOME.
  - name: HOME
    value: /tmp
  {{- range $name, $value := .Values.env }}
  - name: {{ $name }}
    value: {{ $value | toString | quote }}
  {{- end }}
  {{- if gt (int .Values.shards) 1 }}
  {{- if not .Values.serve.enabled }}
  # Kubernetes sets JOB_COMPLETION_INDEX in an Indexed Job; the shard count comes from here.
  - name: JOB_COMPLETIONS
    value: {{ .Values.shards | quote }}
  {{- end }}
  {{- end }}
  {{- if and .Values.serve.enabled .Values.serve.webhook.enabled }}
  - name: UPDATEBOT_WEBHOOK_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ include "updatebot.secretName" . }}
        key: {{ .Values.serve.webhook.secretKey }}
  {{- end }}
envFrom:
  - secretRef:
      name: {{ include "updatebot.secretName" . }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/updatebot
    readOnly: true
  - name: tmp
    mountPath: /tmp
  {{- if .Values.secret.mountPath }}
  - name: secrets
    mountPath: {{ .Values.secret.mountPath }}
    readOnly: true
  {{- end }}
{{- end }}

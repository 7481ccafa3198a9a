{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "opsbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "opsbot.fullname" -}}
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

{{- define "opsbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "opsbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "opsbot.labels" -}}
helm.sh/chart: {{ include "opsbot.chart" . }}
{{ include "opsbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "opsbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "opsbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "opsbot.secretName" -}}
{{- default (include "opsbot.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "opsbot.runbooksConfigMapName" -}}
{{- default (printf "%s-runbooks" (include "opsbot.fullname" .)) .Values.existingRunbooksConfigMap }}
{{- end }}

{{- define "opsbot.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Refuse values that would install a broken bot, at install time rather than
as a crash loop.
*/}}
{{- define "opsbot.validate" -}}
{{- if not .Values.existingSecret }}
{{- if not (and .Values.slack.appToken .Values.slack.botToken) }}
{{- fail "set existingSecret, or both slack.appToken and slack.botToken: without tokens opsbot runs in console mode" }}
{{- end }}
{{- if not (hasPrefix "xapp-" .Values.slack.appToken) }}
{{- fail "slack.appToken must be an app-level token (xapp-…)" }}
{{- end }}
{{- if not (hasPrefix "xoxb-" .Values.slack.botToken) }}
{{- fail "slack.botToken must be a bot token (xoxb-…)" }}
{{- end }}
{{- if not (or .Values.redis.url .Values.redis.sentinel.addrs (dig "redis" "addrs" nil .Values.config)) }}
{{- fail "set redis.url, redis.sentinel or config.redis.addrs (or existingSecret with REDIS_URL): opsbot does not run in Socket Mode without Redis, and replicas coordinate through it" }}
{{- end }}
{{- if and .Values.alerts.token (lt (len .Values.alerts.token) 16) }}
{{- fail "alerts.token must be at least 16 characters: it is all that guards the alert hooks" }}
{{- end }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.from) }}
{{- fail "networkPolicy.enabled needs networkPolicy.from: without peers nothing could reach the alert hooks, /metrics or the probes' port" }}
{{- end }}
{{- if and .Values.web.publicURL (not .Values.existingSecret) (lt (len .Values.web.linkKey) 32) }}
{{- fail "web.publicURL needs web.linkKey (at least 32 bytes; `openssl rand -base64 48`), or existingSecret with OPSBOT_LINK_KEY" }}
{{- end }}
{{- if and .Values.web.publicURL (eq (int .Values.web.port) (int .Values.service.port)) }}
{{- fail "web.port must differ from service.port: the pages have their own listener, apart from /metrics" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.sentinel.addrs }}
{{- fail "set redis.url or redis.sentinel, not both (REDIS_URL would win)" }}
{{- end }}
{{- if and .Values.redis.sentinel.addrs (not .Values.redis.sentinel.masterName) }}
{{- fail "redis.sentinel.masterName is required with redis.sentinel.addrs" }}
{{- end }}
{{- if and .Values.runbooks .Values.existingRunbooksConfigMap }}
{{- fail "set runbooks or existingRunbooksConfigMap, not both" }}
{{- end }}
{{- end }}

{{/* Container environment, shared by the Deployment and the doctor test pod. */}}
{{- define "opsbot.env" -}}
- name: SLACK_APP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: SLACK_APP_TOKEN
- name: SLACK_BOT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: SLACK_BOT_TOKEN
- name: PAGERDUTY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: PAGERDUTY_TOKEN
      optional: true
- name: GITHUB_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: GITHUB_TOKEN
      optional: true
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: REDIS_URL
      optional: true
- name: OPSBOT_ALERTS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: OPSBOT_ALERTS_TOKEN
      optional: true
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: REDIS_PASSWORD
      optional: true
{{- with .Values.slack.apiURL }}
- name: SLACK_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.pagerduty.apiURL }}
- name: PAGERDUTY_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.pagerduty.eventsURL }}
- name: PAGERDUTY_EVENTS_URL
  value: {{ . | quote }}
{{- end }}
- name: OPSBOT_CONFIG
  value: /etc/opsbot/opsbot.yaml
- name: OPSBOT_RUNBOOKS
  value: /etc/opsbot/runbooks
- name: OPSBOT_HTTP_ADDR
  value: {{ printf ":%d" (int .Values.service.port) | quote }}
- name: OPSBOT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.web.publicURL }}
- name: OPSBOT_PUBLIC_URL
  value: {{ .Values.web.publicURL | quote }}
- name: OPSBOT_WEB_ADDR
  value: {{ printf ":%d" (int .Values.web.port) | quote }}
- name: OPSBOT_LINK_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: OPSBOT_LINK_KEY
- name: OPSBOT_LINK_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ include "opsbot.secretName" . }}
      key: OPSBOT_LINK_KEY_PREVIOUS
      optional: true
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Container mounts, shared by the Deployment and the doctor test pod. */}}
{{- define "opsbot.volumeMounts" -}}
- name: config
  mountPath: /etc/opsbot/opsbot.yaml
  subPath: opsbot.yaml
  readOnly: true
- name: runbooks
  mountPath: /etc/opsbot/runbooks
  readOnly: true
- name: spool
  mountPath: /var/lib/opsbot/spool
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Pod volumes, shared by the Deployment and the doctor test pod. */}}
{{- define "opsbot.volumes" -}}
- name: config
  configMap:
    name: {{ include "opsbot.fullname" . }}
- name: runbooks
  configMap:
    name: {{ include "opsbot.runbooksConfigMapName" . }}
- name: spool
  emptyDir: {}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end }}

{{/* The config file: .Values.config, with the redis: keys the chart's own
redis values set (Sentinel addresses and name, min_replicas). */}}
{{- define "opsbot.configFile" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $redis := deepCopy (default (dict) $cfg.redis) }}
{{- with .Values.redis.sentinel.addrs }}
{{- $_ := set $redis "addrs" . }}
{{- $_ := set $redis "master_name" $.Values.redis.sentinel.masterName }}
{{- end }}
{{- if ne (toString .Values.redis.minReplicas) "auto" }}
{{- $_ := set $redis "min_replicas" .Values.redis.minReplicas }}
{{- end }}
{{- if $redis }}
{{- $_ := set $cfg "redis" $redis }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Chart name. */}}
{{- define "tessera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name, the prefix of every object. Truncated to 40 characters so that
"<fullname>-consensus-headless" and the StatefulSet pod names stay valid DNS labels.
*/}}
{{- define "tessera.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tessera.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "tessera.labels" -}}
helm.sh/chart: {{ include "tessera.chart" . }}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tessera
{{- end -}}

{{/* Selector labels; each workload adds app.kubernetes.io/component. */}}
{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tessera.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Tessera image. */}}
{{- define "tessera.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/* Client URL of NATS: the chart's NATS Service, or nats.url. */}}
{{- define "tessera.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats.%s.svc.%s:4222" (include "tessera.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- required "nats.url is required when nats.enabled is false" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* JetStream replicas of the streams (--replicas of every process). */}}
{{- define "tessera.streamReplicas" -}}
{{- if .Values.nats.streamReplicas -}}
{{- int .Values.nats.streamReplicas -}}
{{- else if .Values.nats.enabled -}}
{{- min (int .Values.nats.replicas) 5 -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/*
Fully qualified DNS name of consensus pod N (ordinal), through the headless Service.
Usage: include "tessera.consensus.podHost" (dict "ctx" $ "ordinal" 0)
*/}}
{{- define "tessera.consensus.podHost" -}}
{{- $fullname := include "tessera.fullname" .ctx -}}
{{- printf "%s-consensus-%d.%s-consensus-headless.%s.svc.%s" $fullname (int .ordinal) $fullname .ctx.Release.Namespace .ctx.Values.clusterDomain -}}
{{- end -}}

{{/*
The consensus peers as "1=host:port,2=host:port,…" (peer id = ordinal + 1).
Usage: include "tessera.consensus.peerList" (dict "ctx" $ "port" .Values.consensus.grpcPort)
*/}}
{{- define "tessera.consensus.peerList" -}}
{{- $ctx := .ctx -}}
{{- $port := int .port -}}
{{- $peers := list -}}
{{- range $i := until (int $ctx.Values.consensus.replicas) -}}
{{- $host := include "tessera.consensus.podHost" (dict "ctx" $ctx "ordinal" $i) -}}
{{- $peers = append $peers (printf "%d=%s:%d" (add1 $i) $host $port) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{/* The consensus peers' HTTP API URLs, comma-separated (scheduler --consensus, CLI --server). */}}
{{/* http, or https with consensus.apiTls.secret: every Tessera pod serves its HTTP port so. */}}
{{- define "tessera.httpScheme" -}}
{{- ternary "https" "http" (not (empty .Values.consensus.apiTls.secret)) -}}
{{- end -}}

{{- define "tessera.consensus.httpUrls" -}}
{{- $ctx := . -}}
{{- $urls := list -}}
{{- range $i := until (int $ctx.Values.consensus.replicas) -}}
{{- $host := include "tessera.consensus.podHost" (dict "ctx" $ctx "ordinal" $i) -}}
{{- $urls = append $urls (printf "%s://%s:%d" (include "tessera.httpScheme" $ctx) $host (int $ctx.Values.consensus.httpPort)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* --storage value: s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]. */}}
{{- define "tessera.storage.spec" -}}
{{- $s := .Values.storage -}}
{{- if eq $s.backend "s3" -}}
{{- printf "s3:%s" (required "storage.s3.bucket is required" $s.s3.bucket) -}}
{{- with $s.s3.prefix -}}/{{ . }}{{- end -}}
{{- else if eq $s.backend "gcs" -}}
{{- printf "gcs:%s" (required "storage.gcs.bucket is required" $s.gcs.bucket) -}}
{{- with $s.gcs.prefix -}}/{{ . }}{{- end -}}
{{- else -}}
{{- fail (printf "storage.backend must be s3 or gcs, not %q" $s.backend) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret with the S3 credentials, or nothing. */}}
{{- define "tessera.storage.secretName" -}}
{{- if eq .Values.storage.backend "s3" -}}
{{- if .Values.storage.s3.existingSecret -}}
{{- .Values.storage.s3.existingSecret -}}
{{- else if .Values.storage.s3.accessKeyId -}}
{{- printf "%s-storage" (include "tessera.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether a GCS key file is mounted ("true" or nothing). */}}
{{- define "tessera.storage.gcsKey" -}}
{{- if and (eq .Values.storage.backend "gcs") .Values.storage.gcs.credentialsSecret -}}
true
{{- end -}}
{{- end -}}

{{/* envFrom of the processes that use object storage (storage-manager, agents). */}}
{{- define "tessera.storage.envFrom" -}}
- configMapRef:
    name: {{ include "tessera.fullname" . }}-storage
{{- with include "tessera.storage.secretName" . }}
- secretRef:
    name: {{ . }}
{{- end -}}
{{- end -}}

{{/* Environment of every Tessera container. */}}
{{- define "tessera.commonEnv" -}}
- name: TESSERA_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
# Default --server of the `tessera` CLI (kubectl exec … -- tessera …).
- name: TESSERA_SERVER
  value: {{ include "tessera.consensus.httpUrls" . | quote }}
# Scheduler, storage-manager and agents ship their logs to TESSERA_LOGS (`tessera logs`).
- name: TESSERA_SHIP_LOGS
  value: {{ ternary "1" "0" .Values.shipLogs | quote }}
# Default --nats of `tessera logs`.
- name: TESSERA_NATS_URL
  value: {{ include "tessera.natsUrl" . | quote }}
{{- include "tessera.natsClient.env" . }}
{{- end -}}

{{/* Where nats.client.secret is mounted. */}}
{{- define "tessera.natsClient.dir" -}}
/var/run/secrets/tessera/nats
{{- end -}}

{{/* TESSERA_NATS_* of nats.client (files of the mounted Secret), each on a new line. */}}
{{- define "tessera.natsClient.env" -}}
{{- $c := .Values.nats.client -}}
{{- if $c.secret -}}
{{- if .Values.nats.enabled -}}
{{- fail "nats.client.secret: the bundled NATS takes no credentials or TLS; set nats.enabled=false and nats.url to the NATS that requires them" -}}
{{- end -}}
{{- $dir := include "tessera.natsClient.dir" . -}}
{{- $files := list (list "TESSERA_NATS_CREDS" $c.credsKey) (list "TESSERA_NATS_PASSWORD_FILE" $c.passwordKey) (list "TESSERA_NATS_TOKEN_FILE" $c.tokenKey) (list "TESSERA_NATS_TLS_CA" $c.tlsCaKey) (list "TESSERA_NATS_TLS_CERT" $c.tlsCertKey) (list "TESSERA_NATS_TLS_KEY" $c.tlsKeyKey) -}}
{{- range $files }}
{{- if index . 1 }}
- name: {{ index . 0 }}
  value: {{ printf "%s/%s" $dir (index . 1) | quote }}
{{- end }}
{{- end }}
{{- with $c.user }}
- name: TESSERA_NATS_USER
  value: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
Environment of the consensus and scheduler containers for consensus.tlsSecret (TESSERA_CLUSTER_TLS_*),
consensus.apiTokenSecret (TESSERA_API_TOKEN_FILE) and consensus.apiTls (serving HTTPS, trusting its
CA); nothing for what is not set. Each line starts with a newline: use with `| indent N`.
*/}}
{{- define "tessera.consensusSecrets.env" -}}
{{- if .Values.consensus.tlsSecret }}
- name: TESSERA_CLUSTER_TLS_CA
  value: /var/run/secrets/tessera/cluster-tls/ca.crt
- name: TESSERA_CLUSTER_TLS_CERT
  value: /var/run/secrets/tessera/cluster-tls/tls.crt
- name: TESSERA_CLUSTER_TLS_KEY
  value: /var/run/secrets/tessera/cluster-tls/tls.key
{{- end }}
{{- include "tessera.apiToken.env" . }}
{{- include "tessera.apiTls.env" . }}
{{- include "tessera.apiCa.env" . }}
{{- end -}}

{{/* Their volumeMounts (each line starting with a newline; nothing when none is set). */}}
{{- define "tessera.consensusSecrets.volumeMounts" -}}
{{- if .Values.consensus.tlsSecret }}
- name: cluster-tls
  mountPath: /var/run/secrets/tessera/cluster-tls
  readOnly: true
{{- end }}
{{- include "tessera.apiToken.volumeMount" . }}
{{- include "tessera.apiTls.volumeMount" . }}
{{- end -}}

{{/* Their volumes. */}}
{{- define "tessera.consensusSecrets.volumes" -}}
{{- with .Values.consensus.tlsSecret }}
- name: cluster-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- include "tessera.apiToken.volume" . }}
{{- include "tessera.apiTls.volume" . }}
{{- end -}}

{{/* Whether a consensus or scheduler pod mounts any Secret ("true" or ""). */}}
{{- define "tessera.consensusSecrets.any" -}}
{{- $v := .Values.consensus -}}
{{- if or .Values.nats.client.secret $v.tlsSecret $v.apiTokenSecret $v.apiTls.secret -}}true{{- end -}}
{{- end -}}

{{/*
consensus.apiTls.secret in any Tessera container: it serves its HTTP port over HTTPS with the
Secret's tls.crt/tls.key (--api-tls-cert/-key). Each line starts with a newline.
*/}}
{{- define "tessera.apiTls.env" -}}
{{- if .Values.consensus.apiTls.secret }}
- name: TESSERA_API_TLS_CERT
  value: /var/run/secrets/tessera/api-tls/tls.crt
- name: TESSERA_API_TLS_KEY
  value: /var/run/secrets/tessera/api-tls/tls.key
{{- end }}
{{- end -}}

{{/*
TESSERA_API_CA: the CA the `tessera` CLI (and the scheduler) trust for the peers' HTTPS, when
consensus.apiTls.caKey names it; used where the CLI runs (`kubectl exec … -- tessera …`).
*/}}
{{- define "tessera.apiCa.env" -}}
{{- if and .Values.consensus.apiTls.secret .Values.consensus.apiTls.caKey }}
- name: TESSERA_API_CA
  value: /var/run/secrets/tessera/api-tls/{{ .Values.consensus.apiTls.caKey }}
{{- end }}
{{- end -}}

{{- define "tessera.apiTls.volumeMount" -}}
{{- if .Values.consensus.apiTls.secret }}
- name: api-tls
  mountPath: /var/run/secrets/tessera/api-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "tessera.apiTls.volume" -}}
{{- with .Values.consensus.apiTls.secret }}
- name: api-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{/*
consensus.apiTokenSecret: the token the peers' API and the storage-manager's outputs API require
(and the scheduler sends), as --api-token-file. Each line starts with a newline.
*/}}
{{- define "tessera.apiToken.env" -}}
{{- if .Values.consensus.apiTokenSecret }}
- name: TESSERA_API_TOKEN_FILE
  value: /var/run/secrets/tessera/api-token/token
{{- end }}
{{- end -}}

{{- define "tessera.apiToken.volumeMount" -}}
{{- if .Values.consensus.apiTokenSecret }}
- name: api-token
  mountPath: /var/run/secrets/tessera/api-token
  readOnly: true
{{- end }}
{{- end -}}

{{- define "tessera.apiToken.volume" -}}
{{- with .Values.consensus.apiTokenSecret }}
- name: api-token
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{/* The volumeMount of nats.client.secret (nothing without one). */}}
{{- define "tessera.natsClient.volumeMount" -}}
{{- if .Values.nats.client.secret -}}
- name: nats-client
  mountPath: {{ include "tessera.natsClient.dir" . }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* The volume of nats.client.secret (nothing without one). */}}
{{- define "tessera.natsClient.volume" -}}
{{- with .Values.nats.client.secret -}}
- name: nats-client
  secret:
    secretName: {{ . }}
{{- end -}}
{{- end -}}

{{/*
Annotations of every Tessera pod: Prometheus discovery plus .Values.podAnnotations.
Usage: include "tessera.podAnnotations" (dict "ctx" $ "port" .Values.scheduler.port)
(with "scheme" "https" for a port that serves TLS)
*/}}
{{- define "tessera.podAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ int .port | toString | quote }}
prometheus.io/path: /metrics
{{- with .scheme }}
prometheus.io/scheme: {{ . }}
{{- end }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/*
nodeSelector / tolerations / affinity of a pod from a component's values.
Usage: include "tessera.placement" .Values.agents
*/}}
{{- define "tessera.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Preferred anti-affinity on hostname for one component (used when its affinity is empty).
Usage: include "tessera.spreadAffinity" (dict "ctx" $ "component" "consensus")
*/}}
{{- define "tessera.spreadAffinity" -}}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "tessera.selectorLabels" .ctx | nindent 14 }}
              app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Security helpers: guards, Dapr access control and pub/sub topic scopes (README "Security"). */}}

{{/* Full name of the gRPC API of a service key; empty for a service without one. */}}
{{- define "te.grpcAPI" -}}
{{- get (dict
  "audit" "taskflow.audit.v1.AuditService"
  "notification" "taskflow.notification.v1.NotificationService"
  "recurring-task" "taskflow.recurrence.v1.RecurrenceService") . -}}
{{- end -}}

{{/* Fails, naming every problem at once, when the values leave a way to an effect without
     authentication, unless security.allowUnauthenticated is true. */}}
{{- define "te.securityGuards" -}}
{{- $problems := list -}}
{{- if not .Values.dapr.appTokenSecret -}}
{{- $problems = append $problems "dapr.appTokenSecret is empty: name an existing Secret with key \"token\" (kubectl create secret generic taskflow-app-api-token --from-literal=token=$(openssl rand -hex 32)); daprd sends it to the services, which refuse every event and API call without it" -}}
{{- end -}}
{{- $ws := .Values.services.websocket -}}
{{- if $ws.enabled -}}
{{- $env := merge (deepCopy ($ws.env | default dict)) (deepCopy (.Values.env | default dict)) -}}
{{- $missing := list -}}
{{- range list "JWT_ISSUER" "JWT_AUDIENCE" -}}
{{- if not (or (get $env .) (hasKey ($ws.secretEnv | default dict) .)) -}}
{{- $missing = append $missing . -}}
{{- end -}}
{{- end -}}
{{- with $missing -}}
{{- $problems = append $problems (printf "services.websocket.env needs %s: without them the service accepts any token its keys verify, whoever issued it and for whatever audience" (join " and " .)) -}}
{{- end -}}
{{- end -}}
{{- $root := . -}}
{{- range $key, $_ := .Values.services -}}
{{- $s := include "te.svc" (dict "root" $root "key" $key) | fromYaml -}}
{{- if $s.enabled -}}
{{- $own := merge (deepCopy (($s.dapr | default dict).annotations | default dict)) (deepCopy ($root.Values.dapr.annotations | default dict)) (deepCopy ($s.podAnnotations | default dict)) -}}
{{- range list "dapr.io/config" "dapr.io/app-token-secret" -}}
{{- if hasKey $own . -}}
{{- $problems = append $problems (printf "services.%s: annotation %s would replace the chart's (dapr.configuration.name, dapr.appTokenSecret), and with it the access control or the app token; set those values instead" $key .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $c := .Values.dapr.configuration -}}
{{- if not (or $c.enabled $c.name) -}}
{{- $problems = append $problems "dapr.configuration: no Configuration means no Dapr access control, so any Dapr app may call the services (and their AppCallback, with the app token added by their daprd); enable it, or name an existing Configuration with accessControl" -}}
{{- end -}}
{{- if and $problems (not .Values.security.allowUnauthenticated) -}}
{{- fail (printf "refusing to render a release open to unauthenticated callers (set security.allowUnauthenticated=true to accept that):\n- %s" (join "\n- " $problems)) -}}
{{- end -}}
{{- end -}}

{{/* Dapr access control policies, one per caller (app-id and namespace), as a YAML list of
     {appId, namespace, trustDomain, operations} merged over every enabled service's callers. */}}
{{- define "te.accessPolicies" -}}
{{- $root := . -}}
{{- $ac := .Values.security.accessControl -}}
{{- $defaultNs := default .Release.Namespace $ac.namespace -}}
{{- $policies := dict -}}
{{- range $key := keys ($ac.callers | default dict) | sortAlpha -}}
{{- $svc := get $root.Values.services $key -}}
{{- if and $svc $svc.enabled -}}
{{- $api := include "te.grpcAPI" $key -}}
{{- if not $api -}}
{{- fail (printf "security.accessControl.callers.%s: the service has no gRPC API to call" $key) -}}
{{- end -}}
{{- range (get $ac.callers $key) -}}
{{- $ns := default $defaultNs .namespace -}}
{{- $td := default $ac.trustDomain .trustDomain -}}
{{- $id := printf "%s||%s" .appId $ns -}}
{{- $p := get $policies $id | default (dict "appId" .appId "namespace" $ns "trustDomain" $td "operations" list) -}}
{{- if ne $p.trustDomain $td -}}
{{- fail (printf "security.accessControl.callers: app %s in namespace %s has two trust domains (%s, %s); daprd keeps one policy per app and namespace" .appId $ns $p.trustDomain $td) -}}
{{- end -}}
{{- range .operations -}}
{{- $_ := set $p "operations" (append $p.operations (printf "/%s/%s" $api .) | uniq) -}}
{{- end -}}
{{- $_ := set $policies $id $p -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $out := list -}}
{{- range $id := keys $policies | sortAlpha -}}
{{- $out = append $out (get $policies $id) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The audit service's per-topic Components (dapr.auditPubsub) as a YAML list of
     {topic, name, env}; empty when off, when the chart does not render dapr.pubsub (the
     platform ships the Components) or when the audit service is disabled. */}}
{{- define "te.auditPubsubs" -}}
{{- $list := list -}}
{{- if and .Values.dapr.auditPubsub.enabled .Values.dapr.pubsub.enabled .Values.services.audit.enabled -}}
{{- range $topic, $env := dict "task-events" "AUDIT_PUBSUB_TASK_EVENTS" "reminders" "AUDIT_PUBSUB_REMINDERS" "task-updates" "AUDIT_PUBSUB_TASK_UPDATES" -}}
{{- $list = append $list (dict "topic" $topic "name" (printf "%s-%s" $.Values.dapr.auditPubsub.namePrefix $topic) "env" $env) -}}
{{- end -}}
{{- end -}}
{{- toYaml $list -}}
{{- end -}}

{{/* Pub/sub topic scopes of one Component: (dict "root" $ "component" "shared"|"websocket"|"audit:<topic>").
     YAML {apps: [{appId, service (the services key of this release's apps), publish,
     subscribe}], protected: [topics]}. */}}
{{- define "te.topicScopes" -}}
{{- $root := .root -}}
{{- if hasPrefix "audit:" .component -}}
{{- /* An audit per-topic Component: the audit app subscribes its topic and publishes that
       topic's audit dead-letter topic, nothing else. */ -}}
{{- $topic := trimPrefix "audit:" .component -}}
{{- $dlq := printf "%s-audit-dlq" $topic -}}
{{- $app := dict "appId" $root.Values.services.audit.appId "service" "audit" "publish" (list $dlq) "subscribe" (list $topic) -}}
{{- toYaml (dict "apps" (list $app) "protected" (list $dlq $topic | sortAlpha)) -}}
{{- else -}}
{{- $ts := $root.Values.dapr.pubsub.topicScopes -}}
{{- $wsOwn := and $root.Values.dapr.websocketPubsub.enabled $root.Values.services.websocket.enabled -}}
{{- $apps := list -}}
{{- range $key := keys ($ts.services | default dict) | sortAlpha -}}
{{- $svc := get $root.Values.services $key -}}
{{- if not $svc -}}
{{- fail (printf "dapr.pubsub.topicScopes.services.%s: no such service (services.%s)" $key $key) -}}
{{- end -}}
{{- $onWS := and (eq $key "websocket") $wsOwn -}}
{{- if and $svc.enabled (eq $onWS (eq $.component "websocket")) -}}
{{- $s := get $ts.services $key -}}
{{- $apps = append $apps (dict "appId" $svc.appId "service" $key "publish" ($s.publish | default list) "subscribe" ($s.subscribe | default list)) -}}
{{- end -}}
{{- end -}}
{{- if eq .component "shared" -}}
{{- range $id := keys ($ts.apps | default dict) | sortAlpha -}}
{{- $a := get $ts.apps $id -}}
{{- if $a -}}
{{- $apps = append $apps (dict "appId" $id "publish" ($a.publish | default list) "subscribe" ($a.subscribe | default list)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $protected := list -}}
{{- range $apps -}}
{{- $protected = concat $protected .publish .subscribe -}}
{{- end -}}
{{- toYaml (dict "apps" $apps "protected" ($protected | uniq | sortAlpha)) -}}
{{- end -}}
{{- end -}}

{{/* "app=t1,t2;app2=t3" for the apps with topics in field ("publish" or "subscribe"): an app
     with none is left out (it may still use topics that are not protected). */}}
{{- define "te.scopeString" -}}
{{- $parts := list -}}
{{- range $app := .apps -}}
{{- with get $app $.field -}}
{{- $parts = append $parts (printf "%s=%s" $app.appId (join "," .)) -}}
{{- end -}}
{{- end -}}
{{- join ";" $parts -}}
{{- end -}}

{{/*
Envoy's configuration: the same as deploy/k8s/base/envoy/envoy.yaml (read its
comments), one route set and one cluster per service of the catalog.
*/}}
{{- define "freedumb.envoy.reads" -}}
retry_on: unavailable,reset,connect-failure,refused-stream
num_retries: 2
per_try_timeout: 5s
retry_host_predicate:
- name: envoy.retry_host_predicates.previous_hosts
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
host_selection_retry_max_attempts: 3
{{- end -}}

{{/* The routes of every service; pass (dict "ctx" $ "grpcOnly" true|false). */}}
{{- define "freedumb.envoy.routes" -}}
{{- $grpcOnly := .grpcOnly -}}
{{- range $target := include "freedumb.catalog" .ctx | fromYamlArray }}
{{- if eq $target.role "service" }}
{{- $package := regexReplaceAll "\\.[A-Za-z]+$" $target.grpcService "" }}
{{- $escaped := $package | replace "." "\\\\." }}
- match:
    safe_regex: { regex: "/{{ $escaped }}\\.[A-Za-z]+/(Get|List)[A-Za-z]*" }
    {{- if $grpcOnly }}
    headers:
    - name: content-type
      string_match: { safe_regex: { regex: "application/grpc(\\+proto)?" } }
    {{- end }}
  route:
    cluster: {{ $target.name }}
    timeout: 10s
    retry_policy:
      {{- include "freedumb.envoy.reads" . | nindent 6 }}
- match:
    safe_regex: { regex: "/{{ $escaped }}\\.[A-Za-z]+/(Watch|Download)[A-Za-z]*" }
    {{- if $grpcOnly }}
    headers:
    - name: content-type
      string_match: { safe_regex: { regex: "application/grpc(\\+proto)?" } }
    {{- end }}
  route: { cluster: {{ $target.name }}, timeout: 0s, idle_timeout: 0s }
- match:
    prefix: /{{ $package }}.
    {{- if $grpcOnly }}
    headers:
    - name: content-type
      string_match: { safe_regex: { regex: "application/grpc(\\+proto)?" } }
    {{- end }}
  route: { cluster: {{ $target.name }}, timeout: 30s }
{{- end }}
{{- end }}
{{- end -}}

{{- define "freedumb.envoy.outliers" -}}
consecutive_5xx: 3
consecutive_gateway_failure: 1
consecutive_local_origin_failure: 1
split_external_local_origin_errors: true
interval: 1s
base_ejection_time: 10s
max_ejection_percent: 50
{{- end -}}

{{- define "freedumb.envoy.router" -}}
- name: envoy.filters.http.router
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
{{- end -}}

{{- define "freedumb.envoyConfig" -}}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }

overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: {{ .Values.envoy.maxDownstreamConnections }}

static_resources:
  listeners:
  - name: edge
    address:
      socket_address: { address: 0.0.0.0, port_value: 8443 }
    per_connection_buffer_limit_bytes: 32768
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_params: { tls_minimum_protocol_version: TLSv1_2 }
            tls_certificates:
            - certificate_chain: { filename: /etc/envoy/tls/edge.pem }
              private_key: { filename: /etc/envoy/tls/edge.key }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          codec_type: AUTO
          use_remote_address: true
          normalize_path: true
          merge_slashes: true
          request_headers_timeout: 10s
          # A stream quiet this long is cut, except on the Watch*/Download*
          # routes (idle_timeout: 0s), where HTTP/2 PINGs find dead peers.
          stream_idle_timeout: 300s
          common_http_protocol_options:
            idle_timeout: 3600s
            headers_with_underscores_action: REJECT_REQUEST
          http2_protocol_options:
            connection_keepalive: { interval: 30s, timeout: 5s }
            max_concurrent_streams: 100
            initial_stream_window_size: 65536
            initial_connection_window_size: 1048576
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
              log_format:
                json_format:
                  time: "%START_TIME%"
                  method: "%REQ(:METHOD)%"
                  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                  protocol: "%PROTOCOL%"
                  status: "%RESPONSE_CODE%"
                  grpc_status: "%GRPC_STATUS_NUMBER%"
                  flags: "%RESPONSE_FLAGS%"
                  bytes_in: "%BYTES_RECEIVED%"
                  bytes_out: "%BYTES_SENT%"
                  duration_ms: "%DURATION%"
                  upstream: "%UPSTREAM_HOST%"
                  cluster: "%UPSTREAM_CLUSTER%"
                  client: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
                  request_id: "%REQ(X-REQUEST-ID)%"
                  traceparent: "%REQ(TRACEPARENT)%"
          route_config:
            name: edge
            virtual_hosts:
            - name: freedumb
              domains: ["*"]
              routes:
              {{- include "freedumb.envoy.routes" (dict "ctx" . "grpcOnly" true) | nindent 14 }}
              # gRPC-web and REST streams (Watch*/Download* RPCs, the
              # `:watch` and `:download` REST routes): the gateway, no timeout.
              - match: { safe_regex: { regex: "/freedumb\\.[a-z]+\\.v1\\.[A-Za-z]+/(Watch|Download)[A-Za-z]*" } }
                route: { cluster: gateway, timeout: 0s, idle_timeout: 0s }
              - match: { safe_regex: { regex: "/v1/.+:(watch|download)" } }
                route: { cluster: gateway, timeout: 0s, idle_timeout: 0s }
              # Everything else (REST, gRPC-web, /openapi.json): the gateway.
              - match: { prefix: / }
                route: { cluster: gateway, timeout: 30s }
          http_filters:
          {{- include "freedumb.envoy.router" . | nindent 10 }}

  - name: internal
    address:
      socket_address: { address: 0.0.0.0, port_value: 8081 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: internal
          codec_type: AUTO
          stream_idle_timeout: 300s
          http2_protocol_options:
            connection_keepalive: { interval: 30s, timeout: 5s }
          route_config:
            name: internal
            virtual_hosts:
            - name: services
              domains: ["*"]
              routes:
              {{- include "freedumb.envoy.routes" (dict "ctx" . "grpcOnly" false) | nindent 14 }}
          http_filters:
          {{- include "freedumb.envoy.router" . | nindent 10 }}

  - name: ops
    address:
      socket_address: { address: 0.0.0.0, port_value: 9090 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ops
          codec_type: HTTP1
          route_config:
            name: ops
            virtual_hosts:
            - name: ops
              domains: ["*"]
              routes:
              - match: { path: /live }
                direct_response: { status: 200, body: { inline_string: "ok\n" } }
              - match: { path: /stats/prometheus }
                route: { cluster: envoy_admin }
              - match: { prefix: / }
                direct_response: { status: 404 }
          http_filters:
          - name: envoy.filters.http.health_check
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck
              pass_through_mode: false
              headers:
              - name: ":path"
                string_match: { exact: /ready }
          {{- include "freedumb.envoy.router" . | nindent 10 }}

  clusters:
  {{- range $target := include "freedumb.catalog" . | fromYamlArray }}
  {{- if eq $target.role "service" }}
  - name: {{ $target.name }}
    type: STRICT_DNS
    dns_lookup_family: V4_PREFERRED
    lb_policy: ROUND_ROBIN
    connect_timeout: 1s
    load_assignment:
      cluster_name: {{ $target.name }}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: {{ $target.name }}, port_value: 50051 }
    health_checks:
    - { timeout: 1s, interval: 1s, unhealthy_threshold: 2, healthy_threshold: 1, grpc_health_check: { service_name: {{ $target.grpcService }} } }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options:
            connection_keepalive: { interval: 30s, timeout: 5s }
    # Every live Watch* stream holds one request: Envoy's default (1,024)
    # would refuse the 1,025th watcher.
    circuit_breakers:
      thresholds:
      - priority: DEFAULT
        max_connections: 1024
        max_pending_requests: 1024
        max_requests: 50000
        retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 3 }
    outlier_detection:
      {{- include "freedumb.envoy.outliers" $ | nindent 6 }}
    {{- if $.Values.tls.enabled }}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: {{ $.Values.tls.serverName }}
        common_tls_context:
          alpn_protocols: [h2]
          tls_params: { tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_3 }
          tls_certificates:
          - certificate_chain: { filename: /etc/envoy/tls/envoy.pem }
            private_key: { filename: /etc/envoy/tls/envoy.key }
          validation_context:
            trusted_ca: { filename: /etc/envoy/tls/ca.pem }
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: { exact: {{ $.Values.tls.serverName }} }
    {{- end }}
  {{- end }}
  {{- end }}

  - name: gateway
    type: STRICT_DNS
    dns_lookup_family: V4_PREFERRED
    lb_policy: ROUND_ROBIN
    connect_timeout: 1s
    load_assignment:
      cluster_name: gateway
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: gateway, port_value: 8080 }
            health_check_config: { port_value: 9090 }
    health_checks:
    - timeout: 1s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 1
      http_health_check: { path: /ready }
    outlier_detection:
      {{- include "freedumb.envoy.outliers" . | nindent 6 }}
    # HTTP/1.1 to the gateway: each REST or gRPC-web stream holds a
    # connection, so connections are bounded like requests; TCP keepalive
    # finds dead ones under quiet watches.
    circuit_breakers:
      thresholds:
      - priority: DEFAULT
        max_connections: 50000
        max_pending_requests: 1024
        max_requests: 50000
    upstream_connection_options:
      tcp_keepalive: { keepalive_time: 60, keepalive_interval: 10, keepalive_probes: 3 }

  - name: envoy_admin
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: envoy_admin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 9901 }
{{- end -}}

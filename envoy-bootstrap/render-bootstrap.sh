#!/bin/sh
# Prints meshd's Envoy bootstrap, rendered from App Mesh's environment variables, for images
# without Node.js (the stock envoyproxy/envoy image): the same bytes `meshd bootstrap` prints
# from the same variables (test/e2e/bootstrap.test.ts holds the two together).
# Reads bootstrap.yaml and appmesh-variables.tsv next to it. Ignored App Mesh variables are
# reported on stderr; a bad value is one line on stderr and exit 2, with nothing on stdout.
# POSIX sh, sed and awk only.
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

fail() {
  printf 'meshd bootstrap: %s\n' "$1" >&2
  exit 2
}

# pick VAR... : the first variable set to something other than blanks; sets $value and $source.
pick() {
  value=
  source=
  for name in "$@"; do
    eval "raw=\${$name-}"
    # Trim spaces, tabs and line breaks at both ends, as meshd does.
    raw=$(printf '%s' "$raw" | awk 'BEGIN { RS = "\001" } { sub(/^[ \t\n\r]+/, ""); sub(/[ \t\n\r]+$/, ""); printf "%s", $0 }')
    if [ -n "$raw" ]; then
      value=$raw
      source=$name
      return 0
    fi
  done
  return 1
}

# text DEFAULT VAR... : a string; no control characters.
text() {
  default=$1
  shift
  if pick "$@"; then
    case $value in *[[:cntrl:]]*) fail "$source must not contain control characters" ;; esac
  else
    value=$default
  fi
}

# int MIN DEFAULT VAR... : a whole number from MIN to 65535, without leading zeros.
int() {
  min=$1 default=$2
  shift 2
  if pick "$@"; then
    digits=$(printf '%s' "$value" | sed 's/^0*//')
    case $value in '' | *[!0-9]*) fail "$source must be a whole number from $min to 65535, got '$value'" ;; esac
    if [ ${#digits} -gt 5 ] || [ "${digits:-0}" -lt "$min" ] || [ "${digits:-0}" -gt 65535 ]; then
      fail "$source must be a whole number from $min to 65535, got '$value'"
    fi
    value=${digits:-0}
  else
    value=$default
  fi
}

# bool VAR... : 1 or empty, from the words Go's strconv.ParseBool accepts (as App Mesh read them).
bool() {
  if pick "$@"; then
    case $value in
      1 | t | T | true | TRUE | True) value=1 ;;
      0 | f | F | false | FALSE | False) value= ;;
      *) fail "$source must be 1 or 0 (or true or false), got '$value'" ;;
    esac
  else
    value=
  fi
}

# quote TEXT : TEXT as a JSON string (which YAML reads as a double-quoted scalar).
quote() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# The variables, in the order meshd's flags read them (so the first error is the same one).
text '' APPMESH_RESOURCE_ARN APPMESH_RESOURCE_NAME APPMESH_VIRTUAL_NODE_NAME; node_id=$value
text '' APPMESH_RESOURCE_CLUSTER APPMESH_VIRTUAL_NODE_CLUSTER; cluster=$value
text 127.0.0.1:18000 MESHD_XDS_ADDRESS; xds=$value xds_source=${source:---xds-address}
text sotw MESHD_ADS_PROTOCOL; ads=$value ads_source=${source:---ads}
bool ENVOY_ADMIN_ACCESS_ENABLE_IPV6; admin_ipv6=$value
int 1 9901 ENVOY_ADMIN_ACCESS_PORT; admin_port=$value
text '' ENVOY_ADMIN_ACCESS_LOG_FILE; admin_access_log=$value
text '' ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH; outlier_event_log=$value
int 1 15000 APPMESH_ENVOY_INGRESS_PORT; ingress_port=$value
int 1 15001 APPMESH_ENVOY_EGRESS_PORT; egress_port=$value
int 0 0 ENVOY_INITIAL_FETCH_TIMEOUT; initial_fetch_timeout=$value
bool ENABLE_ENVOY_STATS_TAGS; stats_tags=$value
text '' ENVOY_STATS_FLUSH_INTERVAL; flush=$value flush_source=$source
bool ENABLE_ENVOY_DOG_STATSD; dog_statsd=$value
text 127.0.0.1 STATSD_ADDRESS; statsd_address=$value statsd_address_source=${source:---statsd-address}
int 1 8125 STATSD_PORT; statsd_port=$value
text '' STATSD_SOCKET_PATH; statsd_socket_path=$value
text '' APPMESH_SDS_SOCKET_PATH; sds_socket_path=$value
bool MESHD_XDS_TLS; xds_tls=$value xds_tls_source=$source
text '' MESHD_XDS_CA_FILE; xds_ca_file=$value
text '' MESHD_XDS_SERVER_NAME; xds_server_name=$value xds_server_name_source=$source
text '' MESHD_XDS_CERT_FILE; xds_cert_file=$value xds_cert_file_source=$source
text '' MESHD_XDS_KEY_FILE; xds_key_file=$value xds_key_file_source=$source
text '' MESHD_TOKEN; token=$value token_source=$source
text '' MESHD_TOKEN_FILE; token_file=$value token_file_source=$source
bool MESHD_XDS_INSECURE_TOKEN; insecure_token=$value
bool ENABLE_ENVOY_XRAY_TRACING; xray=$value xray_source=$source
text '' AWS_XRAY_DAEMON_ADDRESS; xray_address=$value xray_address_source=$source
text 2000 XRAY_DAEMON_PORT; xray_port=$value xray_port_source=${source:---xray-daemon-port}
text '' XRAY_SAMPLING_RATE; xray_rate=$value xray_rate_source=$source
text '' XRAY_SAMPLING_RULE_MANIFEST; xray_manifest=$value xray_manifest_source=$source
text '' XRAY_SEGMENT_NAME; xray_segment=$value
bool ENABLE_ENVOY_JAEGER_TRACING; jaeger=$value jaeger_source=$source
text 127.0.0.1 JAEGER_TRACER_ADDRESS; jaeger_address=$value jaeger_address_source=${source:---jaeger-address}
text 9411 JAEGER_TRACER_PORT; jaeger_port=$value jaeger_port_source=${source:---jaeger-port}
text '' JAEGER_TRACER_VERSION; jaeger_version=$value
bool ENABLE_ENVOY_DATADOG_TRACING; datadog=$value datadog_source=$source
text 127.0.0.1 DATADOG_TRACER_ADDRESS; datadog_address=$value datadog_address_source=${source:---datadog-address}
text 8126 DATADOG_TRACER_PORT; datadog_port=$value datadog_port_source=${source:---datadog-port}
text '' DD_SERVICE; datadog_service=$value
text '' ENVOY_TRACING_CFG_FILE; tracing_cfg_file=$value tracing_cfg_source=$source


# The node id: mesh/<mesh>/virtualNode/<name> (or virtualGateway), or its ARN form.
if [ -z "$node_id" ]; then
  fail 'no node id: set APPMESH_RESOURCE_ARN (or APPMESH_VIRTUAL_NODE_NAME) or pass --node mesh/<mesh>/virtualNode/<name>'
fi
node_path=$(printf '%s' "$node_id" | sed 's/^arn:aws[a-zA-Z-]*:appmesh:[^:]*:[^:]*://')
if ! printf '%s' "$node_path" | grep -Eq '^mesh/[^/]+/(virtualNode|virtualGateway)/[^/]+$'; then
  fail "node id '$node_id' is not of the form mesh/<mesh>/virtualNode/<name> (or its ARN form arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>)"
fi
mesh=$(printf '%s' "$node_path" | cut -d/ -f2)
kind=$(printf '%s' "$node_path" | cut -d/ -f3)
node_name=$(printf '%s' "$node_path" | cut -d/ -f4)
[ -n "$cluster" ] || cluster=$node_id

# meshd's xDS addresses: host:port, or several separated by commas (a fleet of replicas), each
# host an IPv4 address, an [IPv6] address or a DNS name; at most 16 (src/bootstrap/xds-addresses.ts
# has the same rules and messages). Prints the cluster type, then one endpoint line per address.
# Address checks shared by the awk programs below (src/bootstrap/xds-addresses.ts has the same).
awk_addresses='
  function ipv4(t,   p, n, i) {
    if (t !~ /^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$/) return 0
    n = split(t, p, ".")
    for (i = 1; i <= n; i++) if (length(p[i]) > 3 || p[i] + 0 > 255 || p[i] ~ /^0[0-9]/) return 0
    return 1
  }
  function ipv6(t,   halves, nh, parts, np, i, j, groups, last) {
    if (t !~ /^[0-9A-Fa-f:.]+$/ || index(t, ":") == 0) return 0
    nh = split(t, halves, "::")
    if (nh > 2) return 0
    groups = 0
    for (i = 1; i <= nh; i++) {
      if (halves[i] == "") continue
      np = split(halves[i], parts, ":")
      for (j = 1; j <= np; j++) {
        last = i == nh && j == np
        if (last && index(parts[j], ".")) {
          if (!ipv4(parts[j])) return 0
          groups += 2
        } else if (parts[j] ~ /^[0-9A-Fa-f]+$/ && length(parts[j]) <= 4) groups++
        else return 0
      }
    }
    return nh == 2 ? groups <= 7 : groups == 8
  }
  function dnsname(t,   name, labels, n, i) {
    if (length(t) > 253 || t ~ /^[0-9.]+$/) return 0
    name = t; sub(/[.]$/, "", name)
    n = split(name, labels, ".")
    if (n < 1 || name ~ /^[.]|[.][.]|[.]$/) return 0
    for (i = 1; i <= n; i++)
      if (length(labels[i]) > 63 || labels[i] !~ /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/) return 0
    return 1
  }
'
xds_cluster=$(MESHD_XDS_TEXT=$xds MESHD_XDS_SOURCE=$xds_source awk "$awk_addresses"'
  function fail(msg) { print msg; failed = 1; exit 1 }
  BEGIN {
    source = ENVIRON["MESHD_XDS_SOURCE"]
    n = split(ENVIRON["MESHD_XDS_TEXT"], items, ",")
    if (n > 16) fail(source " lists " n " addresses; at most 16 are allowed")
    type = "STATIC"; lines = ""
    for (i = 1; i <= n; i++) {
      item = items[i]; sub(/^[ \t\n\r]+/, "", item); sub(/[ \t\n\r]+$/, "", item)
      where = n > 1 ? source ": address " i " of " n : source
      if (item == "") fail(where " is empty; separate host:port addresses with single commas")
      if (item ~ /^[[][^]]*[]]:[0-9]+$/ || item ~ /^[^:]+:[0-9]+$/) {
        host = item; sub(/:[0-9]+$/, "", host)
      } else host = ""
      if (host == "" || host == item) {
        if (substr(item, 1, 1) != "[" && gsub(/:/, ":", item) > 1)
          fail(where " must put an IPv6 address in brackets, as [::1]:18000, got \047" item "\047")
        fail(where " must be host:port, got \047" item "\047")
      }
      digits = substr(item, length(host) + 2); sub(/^0+/, "", digits)
      if (length(digits) > 5 || digits + 0 < 1 || digits + 0 > 65535)
        fail(where " must have a port from 1 to 65535, got \047" item "\047")
      port = digits + 0
      if (substr(host, 1, 1) == "[") {
        host = substr(host, 2, length(host) - 2)
        if (!ipv6(host)) fail(where " must hold an IPv6 address inside the brackets, got \047" item "\047")
      } else if (!ipv4(host)) {
        if (!dnsname(host)) fail(where " must have an IP address or a DNS name before the port, got \047" item "\047")
        type = "STRICT_DNS"
      }
      key = tolower(host); sub(/[.]$/, "", key); key = key ":" port
      if (key in seen) fail(where " repeats " seen[key] ": \047" item "\047")
      seen[key] = "address " i
      lines = lines "\n- endpoint: { address: { socket_address: { address: \"" host "\", port_value: " port " } } }"
    }
    print type lines
  }') || fail "$xds_cluster"

case $ads in
  sotw) ads_api_type=GRPC ;;
  delta) ads_api_type=DELTA_GRPC ;;
  *) fail "$ads_source must be sotw or delta, got '$ads'" ;;
esac

# A Go duration (10s, 5000ms, 1m30s) as a protobuf Duration, from 1 ms to 5 minutes.
flush_duration=
if [ -n "$flush" ]; then
  flush_duration=$(printf '%s' "$flush" | awk '
    {
      rest = $0; ms = 0
      if (rest !~ /^([0-9]+([.][0-9]+)?(ms|s|m|h))+$/) exit 1
      while (match(rest, /^[0-9]+([.][0-9]+)?(ms|s|m|h)/)) {
        part = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
        unit = part; sub(/^[0-9.]+/, "", unit)
        amount = substr(part, 1, length(part) - length(unit)) + 0
        ms += amount * (unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : 3600000)
      }
      ms = int(ms + 0.5)
      if (ms < 1 || ms > 300000) exit 1
      fraction = sprintf("%03d", ms % 1000); sub(/0+$/, "", fraction)
      printf "%d%s%ss", int(ms / 1000), (fraction == "" ? "" : "."), fraction
    }') || fail "$flush_source must be a duration from 1ms to 5m such as 10s or 5000ms, got '$flush'"
fi

if [ -n "$dog_statsd" ] && [ -z "$statsd_socket_path" ] &&
  ! printf '%s' "$statsd_address" | grep -Eq '^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$'; then
  fail "$statsd_address_source must be an IP address (Envoy does not look up names for stats), got '$statsd_address'"
fi

# App Mesh's runtime toggles (src/bootstrap/runtime.ts): true or false as Go's ParseBool reads
# them. Envoy 1.40 removed all five features; a value it cannot honour is reported.
notes=
# toggle VAR DEFAULT [WHY-REMOVED] : sets $value to true or false.
toggle() {
  if pick "$1"; then
    case $value in
      1 | t | T | true | TRUE | True) value=true ;;
      0 | f | F | false | FALSE | False) value=false ;;
      *) fail "$1 must be true or false (or 1 or 0), got '$value'" ;;
    esac
    if [ -n "${3:-}" ] && [ "$value" != "$2" ]; then
      notes="${notes}meshd bootstrap: $1=$value has no effect: $3
"
    fi
  else
    value=$2
  fi
}
toggle APPMESH_SET_TRACING_DECISION true 'Envoy 1.40 removed this feature, and the connection managers meshd compiles never record a tracing decision in x-request-id (what false asked for)'
toggle ENVOY_NO_EXTENSION_LOOKUP_BY_NAME true "Envoy 1.40 removed this feature and always looks extensions up by type URL (meshd's resources are all typed)"
toggle ENVOY_ENABLE_TCP_POOL_IDLE_TIMEOUT true 'Envoy 1.40 removed this feature: idle TCP upstream connections always close after 10 minutes'
toggle ENVOY_SANITIZE_ORIGINAL_PATH true 'Envoy 1.40 removed this feature and always sanitizes x-envoy-original-path from untrusted clients'
toggle ENVOY_ACTIVE_HEALTH_CHECK_UNEJECT_HOST false "Envoy 1.40 removed this feature; meshd's clusters keep App Mesh's default instead (outlier_detection.successful_active_health_check_uneject_host: false)"

# The xDS channel's TLS files and join token (src/cli/bootstrap.ts checks the same, in this
# order). The token goes into the YAML, so it must be made of what a JWT is made of: base64url
# parts and dots (no newline or quote can add keys). Messages never print the token.
jwt_what='a join token (a JWT: three base64url parts separated by dots, at most 4096 characters)'
# jwt TEXT : whether TEXT is a JWT's characters, at most 4096 of them.
jwt() {
  case $1 in *[!A-Za-z0-9._-]*) return 1 ;; esac
  [ ${#1} -le 4096 ] && printf '%s\n' "$1" | grep -Eq '^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$'
}
if [ -n "$token" ] && [ -n "$token_file" ]; then
  fail "$token_source and $token_file_source are both set; give one"
fi
if [ -n "$token" ]; then
  jwt "$token" || fail "$token_source is not $jwt_what"
  token_named=$token_source
elif [ -n "$token_file" ]; then
  { [ -f "$token_file" ] && [ -r "$token_file" ]; } || fail "$token_file_source: cannot read '$token_file'"
  size=$(wc -c < "$token_file" | tr -d ' ') || fail "$token_file_source: cannot read '$token_file'"
  [ "$size" -le 8192 ] || fail "$token_file_source: '$token_file' is over 8192 bytes, too large for a join token"
  # Only the JWT alphabet and blanks (a NUL byte, lost by $(...), counts as another byte here).
  others=$(LC_ALL=C tr -d 'A-Za-z0-9._\n\r\t -' < "$token_file" | wc -c | tr -d ' ')
  token=$(awk 'BEGIN { RS = "\001" } { sub(/^[ \t\n\r]+/, ""); sub(/[ \t\n\r]+$/, ""); printf "%s", $0 }' "$token_file")
  { [ "$others" = 0 ] && jwt "$token"; } || fail "$token_file_source: '$token_file' does not hold $jwt_what"
  token_named=$token_file_source
fi
if [ -n "$xds_server_name" ] && { [ ${#xds_server_name} -gt 253 ] ||
  ! printf '%s\n' "$xds_server_name" | grep -Eq '^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?([.][A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*[.]?$' ||
  printf '%s\n' "$xds_server_name" | grep -Eq '^[0-9.]+$'; }; then
  fail "$xds_server_name_source must be a DNS name (meshd's certificate must carry it), got '$xds_server_name'"
fi
tls_on='MESHD_XDS_TLS=1 (--xds-tls)'
if [ -n "$xds_tls" ]; then
  [ -n "$xds_ca_file" ] || fail "$xds_tls_source needs MESHD_XDS_CA_FILE (--xds-ca-file), the CA bundle meshd's certificate must chain to: certificate verification is never turned off"
  [ -z "$xds_cert_file" ] || [ -n "$xds_key_file" ] || fail "$xds_cert_file_source needs MESHD_XDS_KEY_FILE (--xds-key-file) too"
  [ -z "$xds_key_file" ] || [ -n "$xds_cert_file" ] || fail "$xds_key_file_source needs MESHD_XDS_CERT_FILE (--xds-cert-file) too"
else
  for stray in MESHD_XDS_CA_FILE MESHD_XDS_SERVER_NAME MESHD_XDS_CERT_FILE MESHD_XDS_KEY_FILE; do
    if pick "$stray"; then fail "$stray is set but TLS is off: set $tls_on"; fi
  done
  if [ -n "$token" ] && [ -z "$insecure_token" ]; then
    fail "$token_named without TLS: anyone on the path could read the bearer token; set $tls_on with MESHD_XDS_CA_FILE, or MESHD_XDS_INSECURE_TOKEN=1 (--xds-insecure-token) to send it in the clear anyway"
  fi
fi

# Tracing from App Mesh's variables (src/bootstrap/tracing.ts has the same rules and messages).
# tracer is xray, zipkin, datadog, file or empty.
tracer=
tracing_notes=
# readable FILE : a regular file that can be read, at most 64 KiB (the sizes meshd allows).
readable() {
  { [ -f "$2" ] && [ -r "$2" ]; } || fail "$1: cannot read '$2'"
  size=$(wc -c < "$2" | tr -d ' ') || fail "$1: cannot read '$2'"
  [ "$size" -le 65536 ] || fail "$1: '$2' is over 65536 bytes"
}
if [ -n "$tracing_cfg_file" ]; then
  # App Mesh's agent skipped its own tracers when a tracing file was given.
  for on in "$xray:$xray_source" "$datadog:$datadog_source" "$jaeger:$jaeger_source"; do
    case $on in 1:*) tracing_notes="${tracing_notes}meshd bootstrap: ${on#1:} has no effect: $tracing_cfg_source is set and its tracing is used
" ;; esac
  done
  readable "$tracing_cfg_source" "$tracing_cfg_file"
  others=$(LC_ALL=C tr -d '\t\n\r -~' < "$tracing_cfg_file" | wc -c | tr -d ' ')
  [ "$others" = 0 ] || fail "$tracing_cfg_source: '$tracing_cfg_file' holds a byte that is not printable ASCII (only tabs, line breaks and characters from space to ~ are allowed)"
  # Block YAML read line by line: `tracing:` kept as written, `static_resources:` with `clusters:`
  # only, its list re-indented; prints T<line> and C<line>, or the reason it cannot.
  tracing_cfg=$(tr -d '\r' < "$tracing_cfg_file" | MESHD_WHERE="$tracing_cfg_source: '$tracing_cfg_file'" LC_ALL=C awk '
    function fail(why) { print ENVIRON["MESHD_WHERE"] " line " NR ": " why; failed = 1; exit 1 }
    BEGIN {
      section = ""; clusters_indent = -1; item_indent = -1; nt = 0; nc = 0
      # meshd'"'"'s own bootstrap clusters (src/bootstrap/tracing.ts RESERVED_NAME).
      reserved = "(^|[^A-Za-z0-9_])name: *[\"\047]?(meshd_xds|static_cluster_sds_unix_socket)[\"\047]? *([,}#]|$)"
    }
    /^[ \t]*$/ || /^[ \t]*#/ { next }
    /^ *\t/ { fail("indent with spaces, not tabs") }
    {
      line = $0
      match(line, /^ */); indent = RLENGTH
      if (indent == 0) {
        if (line !~ /^(tracing|static_resources|staticResources):( +#.*)? *$/)
          fail("meshd takes a block \047tracing:\047 and a \047static_resources:\047 holding \047clusters:\047 only, got \047" line "\047")
        if (line ~ /^tracing:/) {
          if (seen_tracing) fail("a second \047tracing:\047: Envoy takes one tracer")
          seen_tracing = 1; section = "tracing"
        } else {
          if (seen_static) fail("a second \047static_resources:\047")
          seen_static = 1; section = "static"
        }
        next
      }
      if (section == "")
        fail("meshd takes a block \047tracing:\047 and a \047static_resources:\047 holding \047clusters:\047 only, got \047" line "\047")
      if (section == "tracing") { out[++n] = "T" line; nt++; next }
      dash = substr(line, indent + 1, 1) == "-"
      if (clusters_indent < 0) {
        if (line !~ /^ +clusters:( +#.*)? *$/)
          fail("static_resources may hold a block \047clusters:\047 list only, got \047" line "\047")
        clusters_indent = indent
        next
      }
      if (indent < clusters_indent || (indent == clusters_indent && !dash))
        fail("static_resources may hold a block \047clusters:\047 list only, got \047" line "\047")
      if (item_indent < 0) {
        if (!dash) fail("\047clusters:\047 must be a block list (- name: ...), got \047" line "\047")
        item_indent = indent
      }
      if (indent < item_indent) fail("less indented than the first cluster, got \047" line "\047")
      if (line ~ reserved) {
        match(line, /meshd_xds|static_cluster_sds_unix_socket/)
        fail("the cluster name \047" substr(line, RSTART, RLENGTH) "\047 is one of meshd\047s own bootstrap clusters (meshd_xds, static_cluster_sds_unix_socket); name the collector\047s cluster otherwise")
      }
      out[++n] = "C" substr(line, item_indent + 1); nc++
    }
    END {
      if (failed) exit 1
      where = ENVIRON["MESHD_WHERE"]
      if (seen_tracing && nt == 0) { print where ": \047tracing:\047 is empty"; exit 1 }
      if (seen_static && nc == 0) { print where ": \047static_resources:\047 holds no clusters"; exit 1 }
      if (!seen_tracing) { print where " holds no \047tracing:\047 block"; exit 1 }
      print "ok"
      for (i = 1; i <= n; i++) print out[i]
    }') || fail "$tracing_cfg"
  tracer=file
elif [ -n "$xray$datadog$jaeger" ]; then
  first= second=
  for on in "$xray:$xray_source" "$datadog:$datadog_source" "$jaeger:$jaeger_source"; do
    case $on in
      1:*) if [ -z "$first" ]; then first=${on#1:}; elif [ -z "$second" ]; then second=${on#1:}; fi ;;
    esac
  done
  if [ -n "$second" ]; then
    fail "$first and $second are both set: Envoy takes one tracer; enable one of ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING and ENABLE_ENVOY_JAEGER_TRACING"
  fi
fi
# port TEXT SOURCE : a tracer's port, 1 to 65535 (leading zeros allowed), in $value. Checked only
# when its tracer is on: Kubernetes sets XRAY_DAEMON_PORT=udp://10.100.0.5:2000 (or
# JAEGER_TRACER_PORT=tcp://...) in every pod of a namespace with a Service of that name.
port() {
  value=$1
  case $value in '' | *[!0-9]*) fail "$2 must be a whole number from 1 to 65535, got '$1'" ;; esac
  value=$(printf '%s' "$1" | sed 's/^0*//')
  if [ ${#value} -gt 5 ] || [ "${value:-0}" -lt 1 ] || [ "${value:-0}" -gt 65535 ]; then
    fail "$2 must be a whole number from 1 to 65535, got '$1'"
  fi
}
# ascii TEXT SOURCE : free text Envoy sends on or opens must be printable ASCII (meshd reads a
# variable that is not UTF-8 with replacement characters; both must refuse the same values).
ascii() {
  if printf '%s' "$1" | LC_ALL=C grep -q '[^ -~]'; then
    fail "$2 must be printable ASCII (characters from space to ~)"
  fi
}
# host_ok HOST : an IP address or a DNS name (a STRICT_DNS cluster's endpoint).
host_ok() {
  MESHD_HOST=$1 awk "$awk_addresses"'BEGIN { h = ENVIRON["MESHD_HOST"]; exit !(ipv4(h) || ipv6(h) || dnsname(h)) }'
}
xray_rules=
if [ -z "$tracer" ] && [ -n "$xray" ]; then
  tracer=xray
  port "$xray_port" "$xray_port_source"; xray_port=$value
  if [ -n "$xray_address" ]; then
    # An IP address, with or without a port; a port here wins over XRAY_DAEMON_PORT.
    parsed=$(MESHD_ADDR=$xray_address awk "$awk_addresses"'BEGIN {
      t = ENVIRON["MESHD_ADDR"]
      if (ipv4(t) || ipv6(t)) { print t; exit 0 }
      if (t ~ /^[[][^]]*[]]:[0-9]+$/) { host = t; sub(/:[0-9]+$/, "", host); host = substr(host, 2, length(host) - 2); ok = ipv6(host) }
      else if (t ~ /^[0-9.]+:[0-9]+$/) { host = t; sub(/:[0-9]+$/, "", host); ok = ipv4(host) }
      if (!ok) exit 1
      digits = t; sub(/^.*:/, "", digits); sub(/^0+/, "", digits)
      if (length(digits) > 5 || digits + 0 < 1 || digits + 0 > 65535) exit 1
      print host; print digits + 0
    }') || fail "$xray_address_source must be an IP address, with a port or not (127.0.0.1, 127.0.0.1:2000, [::1]:2000): the X-Ray tracer does not look names up, got '$xray_address'"
    xray_host=$(printf '%s\n' "$parsed" | sed -n 1p)
    # Envoy's X-Ray tracer reads host:port, so an IPv6 host goes in brackets (bare, Envoy crashes).
    case $xray_host in *:*) xray_host="[$xray_host]" ;; esac
    port_given=$(printf '%s\n' "$parsed" | sed -n 2p)
    [ -z "$port_given" ] || xray_port=$port_given
  else
    xray_host=127.0.0.1
  fi
  ascii "$xray_segment" XRAY_SEGMENT_NAME
  ascii "$xray_manifest" XRAY_SAMPLING_RULE_MANIFEST
  if [ -n "$xray_manifest" ]; then
    readable "$xray_manifest_source" "$xray_manifest"
    # -e and -- : a file named like an option (-v, -r) is still the file.
    grep -Eq -e '"version"[ 	]*:[ 	]*2([^0-9.]|$)' -- "$xray_manifest" ||
      fail "$xray_manifest_source: '$xray_manifest' is not an X-Ray sampling rule manifest of version 2 (\"version\": 2), the only one Envoy's X-Ray tracer reads"
  elif [ -n "$xray_rate" ]; then
    # A whole percentage, rounded half up from the decimal as written; 5% (X-Ray's default) needs no rules.
    xray_rules=$(MESHD_RATE=$xray_rate awk 'BEGIN {
      t = ENVIRON["MESHD_RATE"]
      if (t !~ /^[0-9]*([.][0-9]*)?$/ || t !~ /[0-9]/) exit 1
      whole = t; sub(/[.].*$/, "", whole); sub(/^0+/, "", whole)
      fraction = ""; if (index(t, ".")) fraction = substr(t, index(t, ".") + 1)
      if (whole != "" && whole != "1") exit 1
      if (whole == "1" && fraction ~ /[1-9]/) exit 1
      p = (whole == "1" ? 100 : 0) + substr(fraction "00", 1, 2) + (substr(fraction, 3, 1) + 0 >= 5 ? 1 : 0)
      if (p > 100) p = 100
      if (p == 5) exit 0
      rate = p == 100 ? "1" : p == 0 ? "0" : sprintf("0.%02d", p)
      if (p != 100 && p != 0) sub(/0$/, "", rate)
      printf "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":%s},\"rules\":[]}", rate
    }') || fail "$xray_rate_source must be a decimal from 0 to 1.00 (100%), got '$xray_rate'"
  fi
  [ -n "$xray_segment" ] || xray_segment="$mesh/$node_name"
elif [ -z "$tracer" ] && [ -n "$datadog" ]; then
  tracer=datadog
  port "$datadog_port" "$datadog_port_source"; datadog_port=$value
  host_ok "$datadog_address" || fail "$datadog_address_source must be an IP address or a DNS name, got '$datadog_address'"
  [ -n "$datadog_service" ] || datadog_service="envoy-$mesh/$node_name"
  ascii "$datadog_service" DD_SERVICE
elif [ -z "$tracer" ] && [ -n "$jaeger" ]; then
  tracer=zipkin
  port "$jaeger_port" "$jaeger_port_source"; jaeger_port=$value
  host_ok "$jaeger_address" || fail "$jaeger_address_source must be an IP address or a DNS name, got '$jaeger_address'"
  # As the agent: any value with "json" in it, in any case, asks for JSON; anything else is protobuf.
  case $(printf '%s' "$jaeger_version" | tr 'A-Z' 'a-z') in
    *json*) jaeger_version=HTTP_JSON ;;
    *) jaeger_version=HTTP_PROTO ;;
  esac
fi

admin_address=0.0.0.0
[ -z "$admin_ipv6" ] || admin_address=::

# App Mesh variables that are set but not used: one line each, sorted by name.
env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.\{1,\}$/\1/p' | LC_ALL=C sort -u |
  awk -F '\t' '
    FNR == NR {
      if ($0 == "" || $0 ~ /^#/) next
      if ($1 ~ /[*]$/) prefix[substr($1, 1, length($1) - 1)] = $2; else exact[$1] = $2
      next
    }
    {
      rule = ""
      if ($1 in exact) rule = exact[$1]
      else { best = -1; for (p in prefix) if (index($1, p) == 1 && length(p) > best) { best = length(p); rule = prefix[p] } }
      if (rule ~ /^ignored: /) printf "meshd bootstrap: ignoring %s: %s\n", $1, substr(rule, 10)
    }' "$here/appmesh-variables.tsv" - >&2
printf '%s%s' "$notes" "$tracing_notes" >&2

# The template's values: strings quoted, numbers as they are, sections 1 or empty.
is_ipv6=
case $admin_address in *:*) is_ipv6=1 ;; esac
export MESHD_TPL_NODE_ID="$(quote "$node_id")"
export MESHD_TPL_NODE_CLUSTER="$(quote "$cluster")"
export MESHD_TPL_INGRESS_PORT="$(quote "$ingress_port")"
export MESHD_TPL_EGRESS_PORT="$(quote "$egress_port")"
export MESHD_TPL_ADMIN_ADDRESS="$(quote "$admin_address")"
export MESHD_TPL_ADMIN_PORT="$admin_port"
export MESHD_TPL_ADMIN_IPV4="$([ -n "$is_ipv6" ] || echo 1)"
export MESHD_TPL_ADMIN_IPV6="$is_ipv6"
export MESHD_TPL_ADMIN_ACCESS_LOG="$([ -z "$admin_access_log" ] || quote "$admin_access_log")"
export MESHD_TPL_OUTLIER_EVENT_LOG="$([ -z "$outlier_event_log" ] || quote "$outlier_event_log")"
export MESHD_TPL_ADS_API_TYPE="$(quote "$ads_api_type")"
export MESHD_TPL_INITIAL_FETCH_TIMEOUT="$(quote "${initial_fetch_timeout}s")"
export MESHD_TPL_XDS_CLUSTER_TYPE="$(quote "$(printf '%s\n' "$xds_cluster" | sed -n 1p)")"
export MESHD_TPL_XDS_LB_ENDPOINTS="$(printf '%s\n' "$xds_cluster" | sed 1d)"
export MESHD_TPL_XDS_AUTHORIZATION="$([ -z "$token" ] || quote "Bearer $token")"
export MESHD_TPL_XDS_TLS="$xds_tls"
export MESHD_TPL_XDS_CA_FILE="$([ -z "$xds_tls" ] || quote "$xds_ca_file")"
export MESHD_TPL_XDS_SERVER_NAME="$([ -z "$xds_server_name" ] || quote "$xds_server_name")"
export MESHD_TPL_XDS_CLIENT_CERT="$([ -z "$xds_cert_file" ] || echo 1)"
export MESHD_TPL_XDS_CERT_FILE="$([ -z "$xds_cert_file" ] || quote "$xds_cert_file")"
export MESHD_TPL_XDS_KEY_FILE="$([ -z "$xds_key_file" ] || quote "$xds_key_file")"
export MESHD_TPL_SDS_SOCKET_PATH="$([ -z "$sds_socket_path" ] || quote "$sds_socket_path")"
export MESHD_TPL_STATS_TAGS="$stats_tags"
export MESHD_TPL_STATS_TAG_MESH="$(quote "$mesh")"
export MESHD_TPL_STATS_TAG_RESOURCE="$(quote "$([ "$kind" = virtualGateway ] && echo appmesh.virtual_gateway || echo appmesh.virtual_node)")"
export MESHD_TPL_STATS_TAG_NAME="$(quote "$node_name")"
export MESHD_TPL_STATS_FLUSH_INTERVAL="$([ -z "$flush_duration" ] || quote "$flush_duration")"
export MESHD_TPL_DOG_STATSD_UDP="$([ -z "$dog_statsd" ] || [ -n "$statsd_socket_path" ] || echo 1)"
export MESHD_TPL_DOG_STATSD_SOCKET="$([ -z "$dog_statsd" ] || [ -z "$statsd_socket_path" ] || echo 1)"
export MESHD_TPL_STATSD_ADDRESS="$([ -z "$dog_statsd" ] || quote "$statsd_address")"
export MESHD_TPL_STATSD_PORT="$([ -z "$dog_statsd" ] || echo "$statsd_port")"
export MESHD_TPL_STATSD_SOCKET_PATH="$([ -z "$dog_statsd" ] || [ -z "$statsd_socket_path" ] || quote "$statsd_socket_path")"
export MESHD_TPL_XRAY="$([ "$tracer" != xray ] || echo 1)"
export MESHD_TPL_XRAY_SEGMENT_NAME="$([ "$tracer" != xray ] || quote "$xray_segment")"
export MESHD_TPL_XRAY_ADDRESS="$([ "$tracer" != xray ] || quote "$xray_host")"
export MESHD_TPL_XRAY_PORT="$([ "$tracer" != xray ] || echo "$xray_port")"
export MESHD_TPL_TRACING_MESH="$([ "$tracer" != xray ] || quote "$mesh")"
export MESHD_TPL_TRACING_NODE="$([ "$tracer" != xray ] || quote "$node_name")"
export MESHD_TPL_XRAY_SAMPLING_FILE="$([ "$tracer" != xray ] || [ -z "$xray_manifest" ] || quote "$xray_manifest")"
export MESHD_TPL_XRAY_SAMPLING_RULES="$([ "$tracer" != xray ] || [ -n "$xray_manifest" ] || [ -z "$xray_rules" ] || quote "$xray_rules")"
export MESHD_TPL_JAEGER="$([ "$tracer" != zipkin ] || echo 1)"
export MESHD_TPL_JAEGER_ADDRESS="$([ "$tracer" != zipkin ] || quote "$jaeger_address")"
export MESHD_TPL_JAEGER_PORT="$([ "$tracer" != zipkin ] || echo "$jaeger_port")"
export MESHD_TPL_JAEGER_VERSION="$([ "$tracer" != zipkin ] || quote "$jaeger_version")"
export MESHD_TPL_DATADOG="$([ "$tracer" != datadog ] || echo 1)"
export MESHD_TPL_DATADOG_ADDRESS="$([ "$tracer" != datadog ] || quote "$datadog_address")"
export MESHD_TPL_DATADOG_PORT="$([ "$tracer" != datadog ] || echo "$datadog_port")"
export MESHD_TPL_DATADOG_SERVICE="$([ "$tracer" != datadog ] || quote "$datadog_service")"
export MESHD_TPL_TRACING_CFG="$([ "$tracer" != file ] || printf '%s\n' "$tracing_cfg" | sed -n 's/^T//p')"
export MESHD_TPL_TRACING_CFG_CLUSTERS="$([ "$tracer" != file ] || printf '%s\n' "$tracing_cfg" | sed -n 's/^C//p')"

# The template language (see the notes at the top of bootstrap.yaml).
awk '
  function fail(msg) { printf "render-bootstrap.sh: bootstrap template: %s\n", msg > "/dev/stderr"; failed = 1; exit 1 }
  /^[ \t]*##/ { next }
  /^[ \t]*# [{][{]#[A-Z0-9_]+[}][}][ \t]*$/ {
    if (open != "") fail("section inside " open)
    open = $0; sub(/^[ \t]*# [{][{]#/, "", open); sub(/[}][}][ \t]*$/, "", open)
    keep = ENVIRON["MESHD_TPL_" open] != ""
    next
  }
  /^[ \t]*# [{][{]\/[A-Z0-9_]+[}][}][ \t]*$/ {
    closing = $0; sub(/^[ \t]*# [{][{]\//, "", closing); sub(/[}][}][ \t]*$/, "", closing)
    if (closing != open) fail("{{/" closing "}} closes no open section")
    open = ""
    next
  }
  open != "" && !keep { next }
  {
    line = $0; out = ""
    match(line, /^[ \t]*/); indent = substr(line, 1, RLENGTH)
    template = ""
    while (match(line, /[{][{][A-Z0-9_]+[}][}]/)) {
      template = template substr(line, 1, RSTART - 1)
      key = substr(line, RSTART + 2, RLENGTH - 4)
      value = ENVIRON["MESHD_TPL_" key]
      if (value == "") fail("{{" key "}} has no value")
      # YAML lines: each line after the first indented like the placeholder line.
      gsub(/\n/, "\n" indent, value)
      out = out substr(line, 1, RSTART - 1) value
      line = substr(line, RSTART + RLENGTH)
    }
    out = out line
    # Only the template itself is checked: a value may hold braces (it is quoted, or checked YAML).
    if (index(template line, "{{")) fail("cannot read " $0)
    lines[++n] = out
  }
  # Printed only once all of it is rendered: never half a bootstrap.
  END {
    if (!failed && open != "") fail("section " open " is never closed")
    if (failed) exit 1
    for (i = 1; i <= n; i++) print lines[i]
  }
' "$here/bootstrap.yaml"

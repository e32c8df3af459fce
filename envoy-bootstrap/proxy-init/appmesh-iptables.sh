#!/bin/sh
# App Mesh's traffic capture for one task (network namespace), as its proxy route manager and
# the Kubernetes controller's proxyinit container applied it, from the same variables:
#   APPMESH_IGNORE_UID / APPMESH_IGNORE_GID  the proxy's user/group, never captured (1337)
#   APPMESH_ENVOY_INGRESS_PORT (15000)       where inbound connections to the app ports go
#   APPMESH_ENVOY_EGRESS_PORT (15001)        where every other outbound TCP connection goes
#   APPMESH_APP_PORTS                        the app's ports (comma-separated); none: no ingress capture
#   APPMESH_EGRESS_IGNORED_IP (169.254.169.254,169.254.170.2)   destinations left alone
#   APPMESH_EGRESS_IGNORED_PORTS             destination ports left alone (22 always)
# Needs root with NET_ADMIN and iptables. Applies the rules once (again: replaces them) and exits.
set -eu

uid=${APPMESH_IGNORE_UID:-}
gid=${APPMESH_IGNORE_GID:-}
if [ -z "$uid" ] && [ -z "$gid" ]; then uid=1337; fi
ingress_port=${APPMESH_ENVOY_INGRESS_PORT:-15000}
egress_port=${APPMESH_ENVOY_EGRESS_PORT:-15001}
app_ports=${APPMESH_APP_PORTS:-}
ignored_ips=${APPMESH_EGRESS_IGNORED_IP:-169.254.169.254,169.254.170.2}
ignored_ports=${APPMESH_EGRESS_IGNORED_PORTS:+$APPMESH_EGRESS_IGNORED_PORTS,}22

fail() {
  echo "appmesh-iptables: $1" >&2
  exit 2
}
for pair in "APPMESH_IGNORE_UID=$uid" "APPMESH_IGNORE_GID=$gid" "APPMESH_ENVOY_INGRESS_PORT=$ingress_port" "APPMESH_ENVOY_EGRESS_PORT=$egress_port"; do
  case ${pair#*=} in *[!0-9]*) fail "${pair%%=*} must be a number, got '${pair#*=}'" ;; esac
done
case $app_ports$ignored_ports in *[!0-9,]*) fail "APPMESH_APP_PORTS and APPMESH_EGRESS_IGNORED_PORTS must be comma-separated port numbers" ;; esac
case $ignored_ips in *[!0-9a-fA-F.:/,]*) fail "APPMESH_EGRESS_IGNORED_IP must be comma-separated IP addresses, got '$ignored_ips'" ;; esac

nat() { iptables -w -t nat "$@"; }
# A chain of ours, emptied (or made), and hooked once into a built-in chain.
chain() {
  nat -N "$1" 2>/dev/null || nat -F "$1"
  nat -C "$2" $3 -j "$1" 2>/dev/null || nat -A "$2" $3 -j "$1"
}

# Egress: the proxy's own traffic and the ignored ports and addresses go out as they are;
# every other TCP connection to another host goes to Envoy's egress listener.
chain APPMESH_EGRESS OUTPUT '-p tcp -m addrtype ! --dst-type LOCAL'
[ -z "$uid" ] || nat -A APPMESH_EGRESS -m owner --uid-owner "$uid" -j RETURN
[ -z "$gid" ] || nat -A APPMESH_EGRESS -m owner --gid-owner "$gid" -j RETURN
nat -A APPMESH_EGRESS -p tcp -m multiport --dports "$ignored_ports" -j RETURN
nat -A APPMESH_EGRESS -p tcp -d "$ignored_ips" -j RETURN
nat -A APPMESH_EGRESS -p tcp -j REDIRECT --to-port "$egress_port"

# Ingress: connections from other hosts to the app's ports go to Envoy's ingress listener.
if [ -n "$app_ports" ]; then
  chain APPMESH_INGRESS PREROUTING '-p tcp -m addrtype ! --src-type LOCAL'
  nat -A APPMESH_INGRESS -p tcp -m multiport --dports "$app_ports" -j REDIRECT --to-port "$ingress_port"
fi

echo "appmesh-iptables: outbound TCP to :$egress_port except uid ${uid:--} gid ${gid:--}, ports $ignored_ports, addresses $ignored_ips; inbound to ${app_ports:-(no app ports)} to :$ingress_port"

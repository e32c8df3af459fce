#!/bin/sh
# meshd's entrypoint for the stock envoyproxy/envoy image: renders the bootstrap from App
# Mesh's environment variables (render-bootstrap.sh, the same as `meshd bootstrap`) and runs
# Envoy on it through the image's own entrypoint, so ENVOY_UID still chooses Envoy's user
# (1337 for App Mesh's traffic capture). Arguments are passed on to Envoy.
#   entrypoint: ["/meshd/entrypoint.sh"]   with this folder mounted at /meshd
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
tmp=${TMPDIR:-/tmp}

# App Mesh's image logged the admin interface's requests to /tmp/envoy_admin_access.log; here
# under TMPDIR when it is set, so Envoys of different users on one host do not share the file.
: "${ENVOY_ADMIN_ACCESS_LOG_FILE:=$tmp/envoy_admin_access.log}"
export ENVOY_ADMIN_ACCESS_LOG_FILE

config=$tmp/meshd-envoy-bootstrap.yaml
# The bootstrap may hold a join token (MESHD_TOKEN, MESHD_TOKEN_FILE): readable by its owner only,
# and that owner is Envoy's user when the image's entrypoint is about to switch to it.
(umask 077 && "$here/render-bootstrap.sh" > "$config.new")
if [ -x /docker-entrypoint.sh ] && [ "$(id -u)" = 0 ] && [ "${ENVOY_UID:-}" != 0 ]; then
  chown "${ENVOY_UID:-envoy}" "$config.new"
fi
mv "$config.new" "$config"

level=$(printf '%s' "${ENVOY_LOG_LEVEL:-info}" | tr 'A-Z' 'a-z')
case $level in
  trace | debug | info | warn | warning | error | critical | off) ;;
  *) printf "meshd entrypoint: ENVOY_LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off; got '%s'\n" "$ENVOY_LOG_LEVEL" >&2; exit 2 ;;
esac
set -- envoy -c "$config" --log-level "$level" "$@"

if [ -n "${ENVOY_CONCURRENCY:-}" ]; then
  case $ENVOY_CONCURRENCY in
    *[!0-9]* | 0*) printf "meshd entrypoint: ENVOY_CONCURRENCY must be a whole number of worker threads (1 or more), got '%s'\n" "$ENVOY_CONCURRENCY" >&2; exit 2 ;;
  esac
  set -- "$@" --concurrency "$ENVOY_CONCURRENCY"
fi

printf 'meshd entrypoint: %s as %s, xDS from %s\n' "$(sed -n 's/^  id: //p' "$config")" "$(id -un 2>/dev/null || id -u)" "${MESHD_XDS_ADDRESS:-127.0.0.1:18000}" >&2
# The image's entrypoint switches to the envoy user (ENVOY_UID); elsewhere run Envoy directly.
if [ -x /docker-entrypoint.sh ]; then exec /docker-entrypoint.sh "$@"; fi
exec "$@"

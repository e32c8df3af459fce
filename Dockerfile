# meshd's image: `docker build -t meshd .`, then
#   docker run -v "$PWD/mesh:/mesh:ro" -e MESHD_INSECURE_ADMIN=true -p 18000:18000 -p 18001:18001 -p 8125:8125/udp meshd
# serves the mesh in /mesh (MESHD_MESH). Every `meshd serve` flag has a MESHD_* variable
# (`meshd serve --help`). The image runs as the unprivileged `node` user. The admin API listens
# on 0.0.0.0, so meshd wants its write credentials (MESHD_ADMIN_TOKEN_FILE, a mounted mode-600
# file; MESHD_API_CREDENTIALS; MESHD_CLOUD_MAP_CREDENTIALS) or MESHD_INSECURE_ADMIN=true, which
# starts it with those writes refused (docs/security.md).

# Build: compile TypeScript and the Envoy protos (into dist/generated/envoy-protos.json) and bundle the web console
# (dist/console), then
# drop the build-only packages (TypeScript, and @grpc/grpc-js-xds, the protos' source).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY scripts/prepare.js scripts/gen-types.js scripts/gen-descriptor.js scripts/build-console.js scripts/
COPY protos protos
COPY src src
# The web console (served under /ui/), bundled by scripts/build-console.js; console/dev is for development only.
COPY console/src console/src
COPY console/index.html console/app.css console/tsconfig.json console/
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

# Run: the compiled code (with the protos descriptor), its runtime packages and the files meshd
# reads at run time.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MESHD_MESH=/mesh \
    MESHD_ADMIN_LISTEN_ADDRESS=0.0.0.0 \
    MESHD_CLOUD_MAP_STATE=/var/lib/meshd/cloud-map.json
WORKDIR /opt/meshd
# The Cloud Map registry lives in a volume, so registrations outlive the container.
RUN mkdir -p /var/lib/meshd && chown node:node /var/lib/meshd
VOLUME ["/var/lib/meshd"]
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
COPY bin bin
COPY envoy-bootstrap envoy-bootstrap
COPY schema schema
USER node
EXPOSE 18000 18001 8125/udp
# Healthy once a valid mesh is loaded (the admin API's /readyz).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:http').get({host: '127.0.0.1', port: process.env.MESHD_ADMIN_PORT || 18001, path: '/readyz'}, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/meshd/bin/meshd"]
CMD ["serve"]

# crossmesh: the control plane, its CLI (bootstrap, token, validate, ...) and the demo app of the
# docker-compose simulation, in one image. Build: docker build -t crossmesh .
#
# Stage 1 installs every dependency and compiles TypeScript; stage 2 keeps only the production
# dependencies and the compiled output (plus iptables for `crossmesh capture`), and runs as the
# unprivileged "node" user by default.

# Pinned tag (Node 20 on Debian bookworm, slim). Bump deliberately.
FROM node:20.19.4-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.browser.json ./
COPY src ./src
COPY bench ./bench
# `npm ci` runs the "prepare" script, which compiles src/ and bench/ into dist/.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20.19.4-bookworm-slim
ENV NODE_ENV=production
# iptables, for `crossmesh capture --apply`: the compose simulation's "-init" services run it (as
# root, with NET_ADMIN) in each app's network namespace. Pinned to bookworm's version; apt pins the
# named package only (its libraries come from the same release), and a Debian update that replaces
# this version makes the build fail here: bump it deliberately.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables=1.8.9-2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The embedded default mesh (served without --config) and the compose topology.
COPY examples ./examples
# Writable places, owned by the runtime user so named volumes mounted there inherit it:
# the CA (keys 0600 in 0700 directories), the policy directory `serve` watches, and the
# generated Envoy bootstraps of the compose simulation.
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/crossmesh \
 && chmod 0755 /app/dist/src/cli/main.js \
 && mkdir -p /var/lib/crossmesh/ca /etc/crossmesh/policies /bootstraps \
 && printf '# Policies applied at run time are copied into this directory; crossmesh reloads it.\n' > /etc/crossmesh/policies/00-readme.yaml \
 && chown -R node:node /var/lib/crossmesh /etc/crossmesh /bootstraps \
 && chmod 0700 /var/lib/crossmesh/ca
USER node
# xDS (gRPC) and admin HTTP (/healthz, /readyz, /metrics, /debug/..., dashboard).
EXPOSE 18000 18080
# The slim image has no curl: node's fetch does the check. Containers running another command
# (e.g. `crossmesh demo-app`) point it elsewhere with CROSSMESH_HEALTHCHECK_URL.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.CROSSMESH_HEALTHCHECK_URL || 'http://127.0.0.1:18080/healthz', {signal: AbortSignal.timeout(2500)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["crossmesh"]
CMD ["serve", "--host", "0.0.0.0"]

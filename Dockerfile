# syntax=docker/dockerfile:1
# The two container images, one target each; build from the repository root:
#   docker build --target consumer -t bgswitch/reference-consumer:0.1.0 .
#   docker build --target sidecar  -t bgswitch/switch-sidecar:0.1.0 .
# The build stage bundles each program with its dependencies into one file (`npm run bundle`); each
# image holds Node and its own file only, and runs as the base image's non-root `node` user (1000).

# node:24.11.1-slim (Node 24, the current LTS), pinned by the digest of its multi-arch index.
ARG NODE_IMAGE=node:24.11.1-slim@sha256:f752e4821362614eab35016f01dea3af61d2f59d0445381c25683e4331520a7b

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY consumer ./consumer
COPY sidecar ./sidecar
RUN npm run bundle -- --outdir /out

FROM ${NODE_IMAGE} AS runtime
# Nothing at run time needs npm, npx, corepack or yarn: remove them with their dependency trees.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
WORKDIR /app
USER 1000:1000

# bgswitch/reference-consumer
FROM runtime AS consumer
COPY --from=build --chown=0:0 --chmod=0444 /out/consumer/main.mjs ./main.mjs
EXPOSE 8080
CMD ["node", "/app/main.mjs"]

# bgswitch/switch-sidecar
# Interpreter only (no JIT code pages; WebAssembly off with it, unused) and a 1 MiB young generation:
# the sidecar reconciles once a second and stays under 48 MiB of RSS (docs/performance.md). The lab
# kubelet runs it with the same flags (lab/kubelet/process.ts). Node 24 refuses `--no-expose-wasm`
# (its V8 has no such flag; Node 20 needs it to start quietly), and test/unit/bundle.test.ts starts
# the bundle with exactly this CMD's flags.
FROM runtime AS sidecar
COPY --from=build --chown=0:0 --chmod=0444 /out/sidecar/main.cjs ./main.cjs
EXPOSE 8082
CMD ["node", "--jitless", "--max-semi-space-size=1", "/app/main.cjs"]

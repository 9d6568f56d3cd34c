# ca-trust-webhook image: build with the full toolchain, run on distroless Node.js as uid 65532
# with production dependencies only and no shell. scripts/image-layout.sh reproduces the
# runtime stage's file set from this file's COPY lines (no Docker engine needed) and starts it.
# No `# syntax=` line: BuildKit's built-in frontend reads this file, so no frontend image is
# pulled by a tag at build time.

# Node.js 24 (the LTS line) on Debian 13 "trixie", both stages. Pinned by digest: a tag can be
# moved to other content, a digest cannot. The tag before `@` says what the digest is; only the
# digest is used. Re-pin at every release (docs/images.md):
#   scripts/pin-base-images.sh            # crane or `docker buildx imagetools`, rewrites these lines
#   scripts/pin-base-images.sh --check    # exit 1 while a pin is older than its tag
# Build stage: node 24.21.0 (this digest was both `node:24-trixie-slim` and `node:24.21.0-trixie-slim`).
ARG BUILD_IMAGE=node:24-trixie-slim@sha256:8ec5d7557396cfe32d21c3f9c13072355ceab22b584578ca4bb28af31120cffe
# Runtime stage: distroless Node.js 24, no shell, user nonroot (65532).
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:9eeb7f5887d0e239e78264b06f7f11d2e14be534050481803a9e4728fcdd278e

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The server only (src/ → dist/src); scripts/ and the tests are not part of the image.
RUN printf '{"extends":"./tsconfig.build.json","include":["src"],"compilerOptions":{"sourceMap":false}}' > tsconfig.image.json && npx tsc -p tsconfig.image.json
# Production dependencies only (drops typescript, vitest, biome, ...).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
# distroless :nonroot is 65532 already; stated so the image says it without inspecting the base.
USER 65532:65532
EXPOSE 9443 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/main.js"]
CMD ["serve"]

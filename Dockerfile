# syntax=docker/dockerfile:1
# ca-trust-webhook image: build with the full toolchain, run on distroless Node.js as uid 65532
# with production dependencies only and no shell. scripts/image-layout.sh reproduces the
# runtime stage's file set from this file's COPY lines (no Docker engine needed) and starts it.

# Pin both by digest for a release: `crane digest gcr.io/distroless/nodejs20-debian12:nonroot`.
ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

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

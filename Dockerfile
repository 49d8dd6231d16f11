# syntax=docker/dockerfile:1
# hopguard: `docker build -t hopguard .`, then
#   docker run --rm -p 9191:9191 -p 9464:9464 -v "$PWD/hopguard.yaml:/etc/hopguard/config.yaml:ro" hopguard
# The config comes from the mounted file; override the arguments to point elsewhere.

# 1. Compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only (no install scripts: none of them needs one).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# 3. Runtime: distroless Node 20, no shell, no package manager, uid 65532.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json marks the ESM package and, with proto/, is how hopguard finds its protos.
COPY package.json ./
COPY proto ./proto
USER 65532:65532
EXPOSE 9191 9192 9464
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli.js", "serve"]
CMD ["--config", "/etc/hopguard/config.yaml"]

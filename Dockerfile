# syntax=docker/dockerfile:1
# Node LTS line of the image, the line CI tests; the project supports Node 22.12 and later (package.json engines).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The web app's own dependencies, installed by the root's prepare script during npm ci.
COPY web/package.json web/package-lock.json ./web/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
RUN npm run build

FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts: prepare builds the web app's toolchain, and the built app comes from the build stage in dist/web.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The image's unprivileged user; nothing in /app is writable by it.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell: node runs as PID 1, receives SIGTERM directly and shuts down gracefully.
CMD ["node", "dist/server.js"]

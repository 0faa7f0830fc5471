# One image for the API, the worker and the migration job; docker-compose.temporal.yml picks
# the command. TypeScript runs through tsx as a Node loader (no build step, no wrapper process,
# so `docker stop`'s SIGTERM reaches the app directly and it drains before exiting).
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so source edits reuse this layer. Optional dependencies stay: they carry
# the platform binaries of @swc/core, which the Temporal worker uses to bundle workflow code.
# patches/ is applied by npm's postinstall (patch-package): see docs/DECISIONS.md.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev && npm cache clean --force

# Runtime source only (no node_modules/.data/.tools from the build context). New top-level
# source folders must be added here.
COPY tsconfig.json ./
COPY lib ./lib
COPY db ./db
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY api ./api

USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]

import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), 'utf8')

interface Service {
  image?: string
  build?: string
  command?: string[]
  volumes?: string[]
  ports?: string[]
  profiles?: string[]
  healthcheck?: { test: string[] }
  environment?: Record<string, string | null>
  depends_on?: Record<string, { condition: string }> | string[]
  deploy?: { replicas: number }
}

t.test('compose.yaml: Redis and PostgreSQL keep their data, the API waits for both, secrets come from outside', async (t) => {
  const compose = parse(await read('compose.yaml'), { merge: true }) as { services: Record<string, Service>; volumes: object }
  const { redis, postgres, api } = compose.services
  t.ok(redis && postgres && api, 'names the redis, postgres and api services')
  t.same(redis!.command, ['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec'], 'AOF, fsync every second')
  t.same(redis!.volumes, ['redis-data:/data'], 'on a named volume')
  t.ok('redis-data' in compose.volumes, 'which is declared')
  t.match(redis!.healthcheck?.test.join(' '), /redis-cli ping/, 'with a healthcheck')
  t.match(postgres!.image, /^postgres:\d+/, 'the official PostgreSQL image')
  t.same(postgres!.volumes, ['postgres-data:/var/lib/postgresql/data'], 'accounts on a named volume')
  t.ok('postgres-data' in compose.volumes, 'which is declared')
  t.match(postgres!.healthcheck?.test.join(' '), /pg_isready/, 'with a pg_isready healthcheck')
  const database = new URL(api!.environment!.DATABASE_URL!.replace(/\$\{POSTGRES_PASSWORD:-(\w+)\}/, '$1'))
  t.equal(database.host, 'postgres:5432', 'the API uses that PostgreSQL')
  t.equal(database.pathname, `/${postgres!.environment?.POSTGRES_DB}`, 'and its database')
  t.same(api!.depends_on, { redis: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } }, 'the API starts once both are healthy')
  t.equal(api!.build, '.', 'built from the Dockerfile')
  t.match(api!.environment?.SESSION_SECRET, /^\$\{SESSION_SECRET:\?/, 'SESSION_SECRET must come from the environment or .env')
  // .env is also npm run dev's: its localhost URLs and PORT must not reach a container.
  t.same([api!.environment?.PORT, api!.environment?.HOST], ['3000', '0.0.0.0'], 'a container listens where its mapping and the proxy expect')
  t.equal(api!.environment?.SMTP_URL, '${CONTAINER_SMTP_URL:-smtp://mailpit:1025}', "mail goes to Mailpit, not to .env's SMTP_URL (the host's)")
})

t.test('compose.yaml: the default service is a plain-HTTP trial, not a production setup', async (t) => {
  const { services } = parse(await read('compose.yaml'), { merge: true }) as { services: Record<string, Service> }
  t.equal(services.api!.environment?.NODE_ENV, 'development')
})

t.test('compose.yaml: the scale profile is the production setup, replicas behind a TLS-terminating proxy', async (t) => {
  const { services } = parse(await read('compose.yaml'), { merge: true }) as { services: Record<string, Service> }
  const replica = services['api-replica']!
  const proxy = services.proxy!
  t.same(replica.profiles, ['scale'])
  t.same(proxy.profiles, ['scale'])
  t.ok(replica.deploy!.replicas >= 2, `${replica.deploy!.replicas} replicas`)
  t.equal(replica.environment?.NODE_ENV, 'production', 'the replicas run in production, whatever a .env copied from .env.example says')
  t.notOk('COOKIE_SECURE' in replica.environment!, 'and its Secure cookies')
  t.equal(replica.environment?.TRUST_PROXY, '1', 'the replicas trust the one proxy hop')
  t.ok('METRICS_TOKEN' in replica.environment! && replica.environment.METRICS_TOKEN === null, 'METRICS_TOKEN comes from the shell or .env')
  t.equal(replica.environment?.REDIS_URL, services.api!.environment?.REDIS_URL, 'and share the one Redis')
  t.equal(replica.environment?.DATABASE_URL, services.api!.environment?.DATABASE_URL, 'and the one PostgreSQL')
  t.equal(replica.ports, undefined, 'only the proxy reaches them')
  t.same(proxy.volumes, ['./deploy/nginx.conf:/etc/nginx/nginx.conf:ro', './deploy/tls:/etc/nginx/tls:ro'])
  const nginx = await read('deploy/nginx.conf')
  t.match(nginx, /server api-replica:3000;/, 'the proxy spreads requests over the replicas')
  t.match(nginx, /listen 8443 ssl;[\s\S]*ssl_certificate \/etc\/nginx\/tls\/cert\.pem;/, 'terminates TLS with the mounted certificate')
  t.match(nginx, /listen 8080;\s*return 308 https:/, 'and only redirects plain HTTP')
  t.match(nginx, /proxy_set_header X-Forwarded-For \$remote_addr;/, 'and tells them the client IP')
  t.match(nginx, /proxy_set_header X-Forwarded-Proto https;/, 'and that the request came over HTTPS')
  t.match(nginx, /location \/whoami\/ \{\s*auth_request \/_auth;[\s\S]*proxy_pass http:\/\/whoami:80\/;/, 'a small upstream behind forward auth')
  t.match(nginx, /location = \/_auth \{\s*internal;\s*proxy_pass http:\/\/api\/auth\/verify;/, 'asked of GET /auth/verify on the replicas')
  t.same(services.whoami?.profiles, ['scale'])
  t.match(await read('.gitignore'), /^deploy\/tls\/\*\.pem$/m, 'keys put there stay out of git')
})

t.test('Dockerfile: multi-stage on a slim LTS image, production dependencies only, non-root, exec form', async (t) => {
  const dockerfile = await read('Dockerfile')
  const lines = dockerfile.split('\n').filter((line) => line.trim() && !line.startsWith('#'))
  const stages = lines.filter((line) => line.startsWith('FROM '))
  t.same(stages, ['FROM node:${NODE_VERSION}-slim AS build', 'FROM node:${NODE_VERSION}-slim AS runtime'])
  const nodeVersion = Number(/^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)?.[1])
  t.ok(nodeVersion >= 22 && nodeVersion % 2 === 0, `Node ${nodeVersion} is an LTS line`)
  const runtime = lines.slice(lines.indexOf(stages[1]!))
  t.ok(runtime.some((line) => /^RUN npm ci --omit=dev\b/.test(line)), 'the final stage installs production dependencies only')
  t.ok(runtime.includes('USER node'), 'and runs as the unprivileged node user')
  t.ok(runtime.includes('ENV NODE_ENV=production'), 'with the production defaults')
  t.match(runtime.join('\n'), /HEALTHCHECK [^\n]*\\\n\s+CMD \[.*\/health\/live/, 'a HEALTHCHECK on /health/live')
  t.equal(runtime.at(-1), 'CMD ["node", "dist/server.js"]', 'node is PID 1 (exec form, no shell): it gets SIGTERM itself')
  t.notMatch(dockerfile, /SESSION_SECRET|ENV .*PASSWORD/, 'no secret in the image')
})

t.test('Node: the image, CI and .nvmrc run one LTS line that engines allows; ended lines are refused', async (t) => {
  const pkg = JSON.parse(await read('package.json')) as { engines: { node: string } }
  const floor = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node)
  t.ok(floor, `engines.node is a plain floor (${pkg.engines.node})`)
  const floorMajor = Number(floor?.[1])
  t.ok(floorMajor >= 22, 'Node 20 (end of life 2026-04-30) and older are outside engines')

  const imageLine = Number(/^ARG NODE_VERSION=(\d+)$/m.exec(await read('Dockerfile'))?.[1])
  const ciLine = Number(/^ci_node_line=(\d+)$/m.exec(await read('.ci/run'))?.[1])
  const ciVersion = /^ci_node_version=(\d+)\.\d+\.\d+$/m.exec(await read('.ci/run'))?.[1]
  const nvmLine = Number((await read('.nvmrc')).trim())
  t.equal(ciLine, imageLine, 'CI tests the line the image runs')
  t.equal(Number(ciVersion), ciLine, "CI's pinned binary is of that line")
  t.equal(nvmLine, imageLine, '.nvmrc names it for nvm and fnm')
  t.ok(imageLine >= floorMajor && imageLine % 2 === 0, `Node ${imageLine} is an LTS line within engines`)
  if (process.env.CI) {
    t.equal(Number(process.versions.node.split('.')[0]), ciLine, `CI runs the suite on Node ${ciLine}`)
  }
})

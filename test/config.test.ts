import { readFile } from 'node:fs/promises'
import t from 'tap'
import { ConfigError, EXAMPLE_SESSION_SECRET, loadConfig, type EnvSource } from '../src/config.js'
import { TEST_SECRET } from './support/helper.js'

const valid: EnvSource = { SESSION_SECRET: TEST_SECRET }

t.test('defaults', async (t) => {
  const config = loadConfig(valid)
  t.equal(config.port, 3000)
  t.equal(config.host, '0.0.0.0')
  t.same(config.redis, { connection: { topology: 'single', url: 'redis://127.0.0.1:6379' }, prefix: 'app:', waitReplicas: 0 })
  t.same(config.session, {
    secrets: [TEST_SECRET],
    cookieName: 'sid',
    cookieSecure: false,
    timeouts: {
      standard: { idleMs: 1_800_000, absoluteMs: 43_200_000 },
      remember: { idleMs: 30 * 86_400_000, absoluteMs: 90 * 86_400_000 },
      touchIntervalMs: 60_000,
    },
    maxPerUser: 10,
  })
  t.equal(config.trustProxy, false)
  t.same(config.corsOrigins, [])
  t.same(config.rateLimit, { max: 300, windowSeconds: 60, syncIntervalMs: 100, credentialMax: 200, loginMax: 10, loginWindowSeconds: 60 })
  t.equal(config.maxTokensPerUser, 10)
  t.equal(config.allowRegistration, true)
  t.equal(config.admin, null)
  t.same(config.accountLock, { threshold: 5, baseLockMs: 30_000, maxLockMs: 900_000 })
  t.equal(config.logLevel, 'info')
})

t.test('parses every variable', async (t) => {
  const config = loadConfig({
    SESSION_SECRET: `${TEST_SECRET}, ${'b'.repeat(32)}`,
    PORT: '8080',
    REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
    REDIS_PREFIX: 'shop:',
    COOKIE_NAME: 'session',
    COOKIE_SECURE: 'true',
    SESSION_IDLE_TTL: '600',
    SESSION_ABSOLUTE_TTL: '3600',
    SESSION_TOUCH_INTERVAL: '30',
    REMEMBER_IDLE_TTL: '86400',
    REMEMBER_ABSOLUTE_TTL: '604800',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    CORS_ORIGINS: 'https://a.example, https://b.example',
    RATE_LIMIT_MAX: '5',
    RATE_LIMIT_WINDOW: '30',
    RATE_LIMIT_SYNC_MS: '0',
    CREDENTIAL_RATE_LIMIT_MAX: '50',
    MAX_TOKENS_PER_USER: '3',
    LOGIN_RATE_LIMIT_MAX: '3',
    LOGIN_RATE_LIMIT_WINDOW: '120',
    ALLOW_REGISTRATION: 'false',
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD: 'admin-password',
    LOG_LEVEL: 'debug',
  })
  t.same(config.session.secrets, [TEST_SECRET, 'b'.repeat(32)])
  t.equal(config.port, 8080)
  t.same(config.redis.connection, { topology: 'single', url: 'rediss://user:pw@redis.example:6380/2' })
  t.equal(config.session.cookieSecure, true)
  t.equal(config.trustProxy, '10.0.0.0/8,127.0.0.1')
  t.same(config.corsOrigins, ['https://a.example', 'https://b.example'])
  t.same(config.rateLimit, { max: 5, windowSeconds: 30, syncIntervalMs: 0, credentialMax: 50, loginMax: 3, loginWindowSeconds: 120 })
  t.equal(config.maxTokensPerUser, 3)
  t.same(config.session.timeouts, {
    standard: { idleMs: 600_000, absoluteMs: 3_600_000 },
    remember: { idleMs: 86_400_000, absoluteMs: 604_800_000 },
    touchIntervalMs: 30_000,
  })
  t.equal(config.allowRegistration, false)
  t.same(config.admin, { username: 'root', password: 'admin-password' })
})

t.test('TRUST_PROXY takes true, false, a hop count or addresses', async (t) => {
  t.equal(loadConfig({ ...valid, TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ ...valid, TRUST_PROXY: 'false' }).trustProxy, false)
  const hops = loadConfig({ ...valid, TRUST_PROXY: '2' }).trustProxy
  if (typeof hops !== 'function') throw new Error('a hop count becomes a trust function')
  t.same([hops('x', 0), hops('x', 1), hops('x', 2)], [true, true, false])
})

t.test('REDIS_SENTINELS picks a Sentinel-managed master, REDIS_CLUSTER_NODES a Cluster', async (t) => {
  const sentinel = loadConfig({
    ...valid,
    REDIS_SENTINELS: 'sentinel-1:26379, [::1]:26380',
    REDIS_SENTINEL_NAME: 'sessions',
    REDIS_PASSWORD: 'redis-pw',
    REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
  })
  t.same(sentinel.redis.connection, {
    topology: 'sentinel',
    sentinels: [{ host: 'sentinel-1', port: 26379 }, { host: '::1', port: 26380 }],
    name: 'sessions',
    password: 'redis-pw',
    sentinelPassword: 'sentinel-pw',
  })
  const cluster = loadConfig({ ...valid, REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000' })
  t.same(cluster.redis.connection, { topology: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }] })
  t.equal(loadConfig({ ...valid, REDIS_SENTINELS: 'a:1' }).redis.connection.topology, 'sentinel')
})

t.test('REDIS_WAIT_REPLICAS: session ends wait for one replica under Sentinel by default, for none otherwise', async (t) => {
  t.equal(loadConfig({ ...valid, REDIS_SENTINELS: 'a:1' }).redis.waitReplicas, 1)
  t.equal(loadConfig(valid).redis.waitReplicas, 0)
  t.equal(loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'b:2' }).redis.waitReplicas, 0)
  t.equal(loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'b:2', REDIS_WAIT_REPLICAS: '1' }).redis.waitReplicas, 1)
  t.equal(loadConfig({ ...valid, REDIS_SENTINELS: 'a:1', REDIS_WAIT_REPLICAS: '0' }).redis.waitReplicas, 0)
  t.throws(() => loadConfig({ ...valid, REDIS_WAIT_REPLICAS: '-1' }), /REDIS_WAIT_REPLICAS/)
})

t.test('SESSION_TTL is still accepted as the old name of SESSION_IDLE_TTL', async (t) => {
  t.equal(loadConfig({ ...valid, SESSION_TTL: '900' }).session.timeouts.standard.idleMs, 900_000)
  t.equal(loadConfig({ ...valid, SESSION_TTL: '900', SESSION_IDLE_TTL: '900' }).session.timeouts.standard.idleMs, 900_000)
})

const production: EnvSource = {
  SESSION_SECRET: TEST_SECRET,
  NODE_ENV: 'production',
  METRICS_TOKEN: 'a-metrics-token-of-16+',
  TRUST_PROXY: '1',
  PUBLIC_URL: 'https://app.example.com',
}

t.test('production defaults: Secure cookies named __Host-sid, no API documentation, /metrics behind its token', async (t) => {
  const config = loadConfig(production)
  t.equal(config.session.cookieSecure, true)
  t.equal(config.session.cookieName, '__Host-sid')
  t.equal(config.docsEnabled, false)
  t.equal(config.metricsToken, 'a-metrics-token-of-16+')
  t.equal(loadConfig({ ...production, DOCS_ENABLED: 'true' }).docsEnabled, true, 'documentation when asked for')
  t.equal(loadConfig({ ...production, COOKIE_SECURE: 'false' }).session.cookieName, 'sid', 'a plain cookie without Secure')
  t.equal(loadConfig({ ...production, COOKIE_NAME: 'session' }).session.cookieName, 'session', 'COOKIE_NAME still decides')
  const { METRICS_TOKEN: _token, ...withoutToken } = production
  t.equal(loadConfig({ ...withoutToken, METRICS_PUBLIC: 'true' }).metricsToken, null, 'METRICS_PUBLIC=true serves /metrics without one')
})

t.test('outside production: a plain sid cookie and the documentation on', async (t) => {
  const config = loadConfig(valid)
  t.equal(config.session.cookieName, 'sid')
  t.equal(config.docsEnabled, true)
  t.equal(loadConfig({ ...valid, COOKIE_SECURE: 'true', TRUST_PROXY: '1' }).session.cookieName, '__Host-sid', 'Secure cookies get the __Host- name anywhere')
})

t.test('mail goes over TLS in production unless SMTP_REQUIRE_TLS=false; password hashes at OWASP\'s cost unless told', async (t) => {
  t.equal(loadConfig(production).mail.requireTls, true)
  t.equal(loadConfig({ ...production, SMTP_REQUIRE_TLS: 'false' }).mail.requireTls, false, 'a relay on the same host')
  t.equal(loadConfig(valid).mail.requireTls, false, 'development: STARTTLS when offered')
  t.same(loadConfig(production).passwordHashCost, { costLog2: 17, blockSize: 8, parallelism: 1 })
  t.equal(loadConfig({ ...valid, PASSWORD_HASH_COST: '10' }).passwordHashCost.costLog2, 10, 'lower for development and benchmarks (with a warning at start)')
})

t.test('mailed links lead to PUBLIC_URL: this service in development, without a trailing slash', async (t) => {
  t.equal(loadConfig({ ...valid, PORT: '4000' }).mail.publicUrl, 'http://localhost:4000')
  t.equal(loadConfig({ ...valid, PUBLIC_URL: 'https://app.example.com/' }).mail.publicUrl, 'https://app.example.com')
  t.equal(loadConfig(production).mail.publicUrl, 'https://app.example.com')
})

t.test('Secure cookies start only with a trusted proxy to say which requests are HTTPS', async (t) => {
  const { TRUST_PROXY: _proxy, ...direct } = production
  t.throws(() => loadConfig(direct), { name: 'ConfigError', message: /COOKIE_SECURE is on but TRUST_PROXY is unset/ })
  t.throws(() => loadConfig({ ...valid, COOKIE_SECURE: 'true' }), /TRUST_PROXY/, 'whatever NODE_ENV says')
  t.equal(loadConfig({ ...direct, COOKIE_SECURE: 'false' }).session.cookieSecure, false, 'plain-HTTP development in production mode')
})

for (const [name, env, message] of [
  ['a missing SESSION_SECRET', {}, /SESSION_SECRET/],
  ['a short SESSION_SECRET', { SESSION_SECRET: 'too-short' }, /SESSION_SECRET.*32/],
  ['an empty SESSION_SECRET', { SESSION_SECRET: '' }, /SESSION_SECRET is empty: set it to 32 or more random characters/],
  ['a NODE_ENV that is not a mode (a typo)', { ...valid, NODE_ENV: 'prod' }, /NODE_ENV must be one of: development, production, test/],
  ['a CORS_ORIGINS entry with a path', { ...valid, CORS_ORIGINS: 'https://app.example/login' }, /CORS_ORIGINS: "https:\/\/app.example\/login" is not an origin/],
  ['one short value in a SESSION_SECRET list', { SESSION_SECRET: `${TEST_SECRET},short` }, /SESSION_SECRET.*32/],
  ['the example secret in production', { ...production, SESSION_SECRET: EXAMPLE_SESSION_SECRET }, /SESSION_SECRET.*example/],
  ['production without METRICS_TOKEN or METRICS_PUBLIC', { ...production, METRICS_TOKEN: undefined }, /METRICS_TOKEN is required in production/],
  ['Secure cookies without TRUST_PROXY', { ...production, TRUST_PROXY: undefined }, /COOKIE_SECURE is on but TRUST_PROXY is unset/],
  ['production without PUBLIC_URL', { ...valid, NODE_ENV: 'production', METRICS_PUBLIC: 'true', TRUST_PROXY: '1' }, /PUBLIC_URL is required in production/],
  ['a PUBLIC_URL that is not http(s)', { ...valid, PUBLIC_URL: 'app.example.com' }, /PUBLIC_URL/],
  ['an http:// PUBLIC_URL in production', { ...production, PUBLIC_URL: 'http://app.example.com' }, /PUBLIC_URL must be https:\/\/ in production/],
  ['a PASSWORD_HASH_COST out of range', { ...valid, PASSWORD_HASH_COST: '21' }, /PASSWORD_HASH_COST/],
  ['an SMTP_URL that is not smtp(s)://', { ...valid, SMTP_URL: 'mail.example.com:25' }, /SMTP_URL/],
  ['an SMTP_URL that is no URL', { ...valid, SMTP_URL: 'smtp://mail.example.com:port' }, /SMTP_URL is not a valid URL/],
  ['a __Host- COOKIE_NAME without Secure', { ...valid, COOKIE_NAME: '__Host-sid' }, /COOKIE_NAME "__Host-sid" needs COOKIE_SECURE=true/],
  ['a __Secure- COOKIE_NAME with COOKIE_SECURE=false', { ...valid, COOKIE_NAME: '__Secure-sid', COOKIE_SECURE: 'false' }, /COOKIE_NAME/],
  ['a PORT that is not a number', { ...valid, PORT: 'eighty' }, /PORT/],
  ['a PORT out of range', { ...valid, PORT: '70000' }, /PORT/],
  ['a REDIS_URL that is not redis://', { ...valid, REDIS_URL: 'http://localhost:6379' }, /REDIS_URL/],
  ['both REDIS_SENTINELS and REDIS_CLUSTER_NODES', { ...valid, REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2' }, /REDIS_SENTINELS or REDIS_CLUSTER_NODES/],
  ['a REDIS_CLUSTER_NODES entry without a port', { ...valid, REDIS_CLUSTER_NODES: 'a:7000,b' }, /REDIS_CLUSTER_NODES: "b" is not host:port/],
  ['a REDIS_SENTINELS port out of range', { ...valid, REDIS_SENTINELS: 'a:99999' }, /REDIS_SENTINELS/],
  ['a SESSION_TTL of 0', { ...valid, SESSION_TTL: '0' }, /SESSION_TTL/],
  ['a SESSION_IDLE_TTL of 0', { ...valid, SESSION_IDLE_TTL: '0' }, /SESSION_IDLE_TTL/],
  ['SESSION_TTL and SESSION_IDLE_TTL that disagree', { ...valid, SESSION_TTL: '600', SESSION_IDLE_TTL: '900' }, /SESSION_TTL.*SESSION_IDLE_TTL/],
  ['an idle timeout not longer than the touch interval', { ...valid, SESSION_IDLE_TTL: '60' }, /SESSION_TOUCH_INTERVAL.*SESSION_IDLE_TTL/],
  ['a remember-me idle timeout not longer than the touch interval', { ...valid, REMEMBER_IDLE_TTL: '30' }, /SESSION_TOUCH_INTERVAL.*REMEMBER_IDLE_TTL/],
  ['a SESSION_ABSOLUTE_TTL that is not a number', { ...valid, SESSION_ABSOLUTE_TTL: 'forever' }, /SESSION_ABSOLUTE_TTL/],
  ['a RATE_LIMIT_MAX that is not a number', { ...valid, RATE_LIMIT_MAX: 'lots' }, /RATE_LIMIT_MAX/],
  ['a COOKIE_SECURE that is not a boolean', { ...valid, COOKIE_SECURE: 'maybe' }, /COOKIE_SECURE/],
  ['a COOKIE_NAME with a space', { ...valid, COOKIE_NAME: 'my sid' }, /COOKIE_NAME/],
  ['an unknown LOG_LEVEL', { ...valid, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent/],
  ['ADMIN_USERNAME without ADMIN_PASSWORD', { ...valid, ADMIN_USERNAME: 'root' }, /ADMIN_USERNAME and ADMIN_PASSWORD/],
  ['an ADMIN_USERNAME the API would refuse', { ...valid, ADMIN_USERNAME: 'no spaces allowed', ADMIN_PASSWORD: 'admin-password' }, /ADMIN_USERNAME/],
  ['a short ADMIN_PASSWORD', { ...valid, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'short' }, /ADMIN_PASSWORD/],
] as const) {
  t.test(`refuses ${name} with one line naming the variable`, async (t) => {
    t.throws(() => loadConfig(env as EnvSource), { name: 'ConfigError', message })
    try {
      loadConfig(env as EnvSource)
    } catch (error) {
      t.ok(error instanceof ConfigError)
      t.notMatch((error as Error).message, /\n/, 'one line')
    }
  })
}

t.test("production's missing settings are named all at once, one line each, so one start lists them all", async (t) => {
  const error = t.throws(() => loadConfig({ ...valid, NODE_ENV: 'production' })) as Error
  t.same(error.message.split('\n').map((line) => line.split(' ')[0]), ['METRICS_TOKEN', 'COOKIE_SECURE', 'PUBLIC_URL'])
  const several = t.throws(() => loadConfig({ SESSION_SECRET: TEST_SECRET, PORT: 'eighty', LOG_LEVEL: 'loud' })) as Error
  t.same(several.message.split('\n'), ['PORT must be integer', 'LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent'], 'every variable env-schema refuses, too')
  t.throws(() => loadConfig({}), { message: 'SESSION_SECRET is required' })
})

t.test('a CORS origin with a trailing slash is the origin a browser sends', async (t) => {
  t.same(loadConfig({ ...valid, CORS_ORIGINS: 'https://app.example/, http://localhost:5173' }).corsOrigins, ['https://app.example', 'http://localhost:5173'])
})

t.test('.env.example lists every variable and carries the secret production refuses', async (t) => {
  const example = await readFile(new URL('../.env.example', import.meta.url), 'utf8')
  const source = await readFile(new URL('../src/config.ts', import.meta.url), 'utf8')
  const variables = [...source.matchAll(/^ {2}([A-Z][A-Z_]+): /gm)].map(([, name]) => name)
  t.ok(variables.length >= 19, `found ${variables.length} variables in the schema`)
  for (const name of variables) t.match(example, new RegExp(`^#? ?${name}=`, 'm'), `${name} is in .env.example`)
  t.match(example, `SESSION_SECRET=${EXAMPLE_SESSION_SECRET}`)
})

t.test('docs/configuration.md documents every variable', async (t) => {
  const page = await readFile(new URL('../docs/configuration.md', import.meta.url), 'utf8')
  const source = await readFile(new URL('../src/config.ts', import.meta.url), 'utf8')
  const tableRows = page.split('\n').filter((line) => line.startsWith('| `'))
  for (const [, name] of source.matchAll(/^ {2}([A-Z][A-Z_]+): /gm)) {
    t.ok(tableRows.some((row) => row.includes(`\`${name}\``)), `${name} is in the configuration table`)
  }
})

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { REDACTED_LOG_PATHS } from '../src/app.js'
import { EXAMPLE_SESSION_SECRET } from '../src/config.js'
import { handleOf } from '../src/lib/keys.js'
import { startServer, waitForListening } from './support/app-process.js'
import { databaseFor, freePort, PASSWORD, RedisServer, sessionIdOf, TEST_SECRET, testPostgres, testRedis, uniquePrefix } from './support/helper.js'
import { steadyStep, totpCode } from './support/totp.js'

function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

/** The `sid=<value>` a response sets (a login also sets the device cookie). */
function sessionCookieOf(response: Response): string {
  return response.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => pair.startsWith('sid=')) ?? ''
}

t.test('a bad configuration stops the start with one line naming the variable', async (t) => {
  const server = startServer(t, { REDIS_URL: 'redis://127.0.0.1:1' })
  t.not(await server.exited, 0)
  t.match(server.stderr().trim(), /^Invalid configuration: .*SESSION_SECRET/)
  t.equal(server.stderr().trim().split('\n').length, 1, 'one line, no stack trace')
})

t.test('a log line that carries credentials or two-factor secrets shows them censored', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) })
  const app = Fastify({ logger: { level: 'info', redact: REDACTED_LOG_PATHS, stream } })
  t.teardown(() => app.close())
  const secrets = { password: 'p1', currentPassword: 'p2', newPassword: 'p3', secret: 'JBSWY3DP', totpSecret: 'v1.x.y', recoveryCodes: ['abcdef-ghijkl'], mfaToken: 'pending-id' }
  app.log.info({ body: secrets }, 'a handler logged a body')
  const logged = JSON.parse(lines[0]!).body
  t.same(Object.keys(logged).sort(), Object.keys(secrets).sort())
  for (const name of Object.keys(secrets)) t.equal(logged[name], '[Redacted]', `${name} censored`)
  t.notMatch(lines[0], /p1|p2|p3|JBSWY3DP|abcdef|pending-id/)
})

t.test('an unreachable Redis stops the start with one line naming the URL tried', async (t) => {
  const port = await freePort()
  const server = startServer(t, { SESSION_SECRET: TEST_SECRET, REDIS_URL: `redis://:secret@127.0.0.1:${port}` })
  t.not(await server.exited, 0)
  const stderr = server.stderr().trim()
  t.match(stderr, `127.0.0.1:${port}`)
  t.match(stderr, /redis-server/)
  t.notMatch(stderr, 'secret', 'the password in REDIS_URL is not printed')
  t.equal(stderr.split('\n').length, 1, 'one line, no stack trace')
})

/** The one line a start that fails prints, and that it printed nothing else. */
async function failedStart(t: Test, env: Record<string, string>): Promise<string> {
  const server = startServer(t, { SESSION_SECRET: TEST_SECRET, ...env })
  t.not(await server.exited, 0, 'exits non-zero')
  const stderr = server.stderr().trim()
  t.equal(stderr.split('\n').length, 1, 'one line, no stack trace')
  return stderr
}

t.test('start-up errors say what to fix in one line', async (t) => {
  const redis = await testRedis()
  const databaseUrl = await databaseFor(uniquePrefix())
  t.match(await failedStart(t, { REDIS_URL: 'redis://127.0.0.1:abc' }), /^Invalid configuration: REDIS_URL is not a valid URL/, 'a bad URL names its variable')
  t.match(await failedStart(t, { REDIS_URL: redis.url, DATABASE_URL: 'postgres://app:p%ss@db:x/app' }), /^Invalid configuration: DATABASE_URL is not a valid URL/)

  const guarded = await RedisServer.start()
  t.teardown(() => guarded.stop())
  const admin = guarded.connect()
  await admin.config('SET', 'requirepass', 'the-right-one')
  admin.disconnect()
  const refused = await failedStart(t, { REDIS_URL: `redis://:a-wrong-one@127.0.0.1:${guarded.port}`, DATABASE_URL: databaseUrl })
  t.match(refused, /^Cannot start: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? refused the credentials \(WRONGPASS.*Check the password \(or ACL user\) in REDIS_URL\.$/, 'reached, and refused: not "unreachable"')
  t.notMatch(refused, 'REDIS_PASSWORD', 'a REDIS_URL carries its own password: REDIS_PASSWORD would not be read')
  t.notMatch(refused, 'a-wrong-one')

  const missing = await failedStart(t, { REDIS_URL: redis.url, DATABASE_URL: (await testPostgres()).url('no_such_database') })
  t.match(missing, /^Cannot start: PostgreSQL at .* refused the connection \(database "no_such_database" does not exist\)\. Create the database/)
  const postgres = await testPostgres()
  await postgres.addPasswordRole('needs_password', 'its-password')
  const withoutPassword = new URL(postgres.url())
  withoutPassword.username = 'needs_password'
  t.equal(
    await failedStart(t, { REDIS_URL: redis.url, DATABASE_URL: withoutPassword.href }),
    `Cannot start: PostgreSQL at ${withoutPassword.href} asks for a password, and DATABASE_URL has none. Put it in the URL: postgres://user:password@host:port/database (special characters percent-encoded).`,
    'a server that wants a password the URL lacks is reached, not "unreachable"',
  )

  const port = await freePort()
  const first = startServer(t, { SESSION_SECRET: TEST_SECRET, REDIS_URL: redis.url, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1' })
  await waitForListening(first)
  t.match(await failedStart(t, { REDIS_URL: redis.url, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1' }), `Cannot start: port ${port} on 127.0.0.1 is in use by another process. Stop that process or set PORT`)
})

t.test('the start says which Redis and PostgreSQL it uses, without passwords, and warns of the example secret', async (t) => {
  const redis = await testRedis()
  const server = startServer(t, {
    SESSION_SECRET: EXAMPLE_SESSION_SECRET,
    REDIS_URL: redis.url,
    DATABASE_URL: (await databaseFor(uniquePrefix())).replace('postgres@', 'postgres:not-needed@'),
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
  })
  await waitForListening(server)
  const lines = server.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; redis?: string; database?: string; level: number })
  t.equal(lines.find((line) => line.msg === 'redis connected')?.redis, `${redis.url}`.replace(/\/?$/, ''), 'the Redis address')
  t.match(lines.find((line) => line.msg === 'database connected')?.database, /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/test_/, 'the database, its password masked')
  t.match(lines.find((line) => line.level === 40)?.msg, /^SESSION_SECRET is the example value/, 'a warning in development')
  t.notMatch(server.stdout(), 'not-needed')
})

t.test('a running server', async (t) => {
  const redis = await testRedis()
  const port = await freePort()
  const server = startServer(t, { SESSION_SECRET: TEST_SECRET, REDIS_URL: redis.url, DATABASE_URL: await databaseFor(uniquePrefix()), PORT: String(port), HOST: '127.0.0.1' })
  await waitForListening(server)

  t.test('answers headers over 16 KiB with 431 and the error shape', async (t) => {
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', path: '/auth/me', headers: { cookie: `sid=${'a'.repeat(20_000)}` } }, (res) => {
        let body = ''
        res.on('data', (chunk) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
    t.equal(response.status, 431)
    t.same(JSON.parse(response.body), {
      statusCode: 431,
      error: 'Request Header Fields Too Large',
      message: 'Request headers are too large',
      code: 'HEADERS_TOO_LARGE',
    })
  })

  t.test('logs lifecycle events by session hash, never the session cookie or a password', async (t) => {
    await post(port, '/auth/register', { username: 'logged', password: PASSWORD })
    await post(port, '/auth/login', { username: 'logged', password: 'wrong password' })
    const response = await post(port, '/auth/login', { username: 'logged', password: PASSWORD })
    const cookie = sessionCookieOf(response)
    t.ok(cookie.startsWith('sid='))
    const me = await fetch(`http://127.0.0.1:${port}/auth/me`, { headers: { cookie, 'x-request-id': 'trace-me-42' } })
    t.equal(me.headers.get('x-request-id'), 'trace-me-42', 'an incoming request id is kept and echoed')
    await post(port, '/auth/logout', {}, { cookie })
    await fetch(`http://127.0.0.1:${port}/auth/me`, { headers: { cookie } })
    const { token } = (await (await post(port, '/auth/login', { username: 'logged', password: PASSWORD, transport: 'token' })).json()) as { token: string }
    const bearer = { authorization: `Bearer ${token}` }
    const pat = (await (await post(port, '/auth/tokens', { name: 'logged bot', scopes: ['read'] }, bearer)).json()) as { token: string }
    t.equal((await fetch(`http://127.0.0.1:${port}/api/dashboard`, { headers: { authorization: `Bearer ${pat.token}` } })).status, 200)
    await sleep(100)
    const events = server.stdout().split('\n').filter((line) => line.includes('"event"')).map((line) => JSON.parse(line))
    const hash = handleOf(sessionIdOf(cookie))
    t.match(events, [
      { event: 'signup', userId: String },
      { event: 'login_failed', username: 'logged' },
      { event: 'login', userId: String, session: hash },
      { event: 'logout', userId: String, session: hash },
      { event: 'session_expired', session: hash },
    ])
    t.match(server.stdout(), '/auth/me', 'requests are logged')
    const traced = server.stdout().split('\n').filter((line) => line.includes('"reqId":"trace-me-42"'))
    t.ok(traced.length >= 2, 'every line of a request carries its id')
    const loginLine = server.stdout().split('\n').find((line) => line.includes('"event":"login"'))
    t.match(JSON.parse(loginLine!).reqId, /^[0-9a-f-]{36}$/, 'a UUID when the client sent none')
    t.notMatch(server.stdout(), sessionIdOf(cookie), 'no session ID in the logs')
    t.notMatch(server.stdout(), token.split('.')[0]!, 'no bearer session token in the logs')
    t.notMatch(server.stdout(), pat.token.slice('rsa_pat_'.length).split('.')[0]!, 'no personal access token in the logs')
    t.notMatch(server.stdout(), PASSWORD, 'no password in the logs')
  })

  t.test('logs no token that travels in a URL: a mailed link opened on the service, any query parameter named like a secret', async (t) => {
    const secret = 'Zk3tQ9rLinkTokenThatOpensAnAccount'
    for (const path of [
      `/reset-password?token=${secret}`,
      `/verify-email?lang=en&token=${secret}#top`,
      `/auth/me?access_token=${secret}`,
      `/api/dashboard?x=1;api_key=${secret}`,
      `/health/live?MFATOKEN=${secret}&code=${secret}`,
    ]) {
      await fetch(`http://127.0.0.1:${port}${path}`)
    }
    await sleep(100)
    t.notMatch(server.stdout(), secret, 'no token in any log line')
    t.match(server.stdout(), '"url":"/reset-password?token=[redacted]"', 'the request is logged, its token redacted')
    t.match(server.stdout(), '"url":"/verify-email?lang=en&token=[redacted]"', 'other parameters kept')
  })

  t.test('logs two-factor events, never the TOTP secret, a recovery code or a pending login', async (t) => {
    const url = (path: string) => `http://127.0.0.1:${port}${path}`
    await post(port, '/auth/register', { username: 'second', password: PASSWORD })
    const cookie = sessionCookieOf(await post(port, '/auth/login', { username: 'second', password: PASSWORD }))
    const { secret } = (await (await fetch(url('/auth/mfa/totp'), { method: 'POST', headers: { cookie } })).json()) as { secret: string }
    const step = await steadyStep()
    const { recoveryCodes } = (await (await post(port, '/auth/mfa/totp/confirm', { code: totpCode(secret, step - 1) }, { cookie })).json()) as { recoveryCodes: string[] }
    const pending = (await (await post(port, '/auth/login', { username: 'second', password: PASSWORD, transport: 'token' })).json()) as { mfaToken: string }
    t.equal((await post(port, '/auth/login/mfa', { mfaToken: pending.mfaToken, code: recoveryCodes[0] })).status, 200)
    await sleep(100)
    const events = server.stdout().split('\n').filter((line) => line.includes('"event"')).map((line) => JSON.parse(line))
    t.match(events.filter(({ username, userId }) => username === 'second' || userId === events.find((e) => e.event === 'mfa_enabled')?.userId), [
      { event: 'signup' },
      { event: 'login' },
      { event: 'mfa_enabled', revokedSessions: 0 },
      { event: 'mfa_challenge', transport: 'token' },
      { event: 'recovery_code_used', step: 'login', recoveryCodesLeft: 9 },
      { event: 'login', authMethod: 'password+recovery_code' },
    ])
    t.notMatch(server.stdout(), secret, 'no TOTP secret in the logs')
    for (const code of recoveryCodes) t.notMatch(server.stdout(), code, 'no recovery code in the logs')
    t.notMatch(server.stdout(), pending.mfaToken, "no pending login's token in the logs")
  })

  t.test('finishes an in-flight request on SIGTERM, then exits 0', async (t) => {
    await post(port, '/auth/register', { username: 'leaving', password: PASSWORD })
    const inFlight = post(port, '/auth/login', { username: 'leaving', password: PASSWORD })
    await sleep(20) // the login is now deriving its key
    server.child.kill('SIGTERM')
    const response = await inFlight
    t.equal(response.status, 200, 'the in-flight login completed')
    t.equal(await server.exited, 0)
    t.match(server.stdout(), /shutting down/)
    await t.rejects(fetch(`http://127.0.0.1:${port}/health/live`), 'no longer listening')
  })
})

/** Starts the service as a process on a Redis started with `redisArgs`; its port and output. */
async function serviceOn(t: Test, redisArgs: string[]) {
  const redis = await RedisServer.start({ extraArgs: redisArgs })
  t.teardown(() => redis.stop())
  const port = await freePort()
  const server = startServer(t, { SESSION_SECRET: TEST_SECRET, REDIS_URL: redis.url, DATABASE_URL: await databaseFor(uniquePrefix()), PORT: String(port), HOST: '127.0.0.1' })
  await waitForListening(server)
  return { port, server }
}

t.test('a Redis that refuses writes, as a demoted master does during a failover, answers 503 with Retry-After', async (t) => {
  // A replica of a master that does not exist: it answers reads and refuses every write (READONLY), also inside the
  // rate limit's transaction, which Redis then discards as a whole (EXECABORT).
  const { port } = await serviceOn(t, ['--replicaof', '127.0.0.1', String(await freePort())])
  const refused = await post(port, '/auth/register', { username: 'failover', password: PASSWORD })
  t.equal(refused.status, 503)
  t.equal(((await refused.json()) as { code: string }).code, 'STORE_UNAVAILABLE')
  t.equal(refused.headers.get('retry-after'), '2')
})

t.test('a command Redis refuses is logged without the arguments it carried', async (t) => {
  // Scripts refused by an ACL (NOPERM): a wrong password's failure count reaches Redis and fails. Arguments can carry
  // what must not be logged (an account name, a sealed secret in a session's fields).
  const { port, server } = await serviceOn(t, ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-evalsha', '-eval'])
  t.equal((await post(port, '/auth/register', { username: 'guessed', password: PASSWORD })).status, 201)
  const refused = await post(port, '/auth/login', { username: 'guessed', password: 'a wrong password' })
  t.equal(refused.status, 500)
  await sleep(100)
  const failure = server.stdout().split('\n').find((line) => line.includes('"level":50'))
  t.match(failure, /NOPERM/, 'the failure is logged with what Redis said')
  t.match(failure, '"args":"[Redacted]"', 'and without the arguments the command carried')
  t.notMatch(failure, 'guessed', 'the account name among them')
})

t.test('a row PostgreSQL refuses is logged without the columns it quotes', async (t) => {
  const prefix = uniquePrefix()
  const redis = await testRedis()
  const port = await freePort()
  const databaseUrl = await databaseFor(prefix)
  const server = startServer(t, { SESSION_SECRET: TEST_SECRET, REDIS_URL: redis.url, REDIS_PREFIX: prefix, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1' })
  await waitForListening(server)
  // A constraint no new row meets: PostgreSQL's error then carries the whole row in its detail.
  await (await testPostgres()).query('ALTER TABLE redis_session_api.users ADD CONSTRAINT refuse_all CHECK (false) NOT VALID', [], new URL(databaseUrl).pathname.slice(1))
  const refused = await post(port, '/auth/register', { username: 'refused', password: PASSWORD })
  t.equal(refused.status, 500)
  await sleep(100)
  const failure = server.stdout().split('\n').find((line) => line.includes('"level":50'))
  t.match(failure, /violates check constraint/, 'the failure is logged with what PostgreSQL said')
  t.match(failure, '"detail":"[Redacted]"', 'without its detail')
  t.notMatch(server.stdout(), /scrypt\$/, 'so without the password hash the row held')
})

t.test('a stop while the server is still starting ends it at once, as PID 1 in a container too', async (t) => {
  // A Redis that takes connections and never answers: the start is waiting on it when the stop comes (it would give
  // up about a second later and exit 1, "Cannot start").
  const silentRedis = createServer()
  const port = await freePort()
  await new Promise<void>((resolve) => silentRedis.listen(port, '127.0.0.1', resolve))
  t.teardown(() => silentRedis.close())
  const waiting = once(silentRedis, 'connection')
  // PID 1 of a PID namespace, as in a container, where node ignores a signal it has no handler for; a user
  // namespace lets unshare run without root.
  const container = spawn('unshare', ['--user', '--map-root-user', '--pid', '--fork', '--kill-child', process.execPath, '--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH ?? '', SESSION_SECRET: TEST_SECRET, REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_URL: await databaseFor(uniquePrefix()) },
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: 'ignore',
  })
  t.teardown(() => container.kill('SIGKILL'))
  const exited = once(container, 'exit') as Promise<[number | null]>
  await waiting
  // unshare ignores SIGTERM itself: the signal goes to its child, the namespace's PID 1.
  const pid1 = Number((await readFile(`/proc/${container.pid}/task/${container.pid}/children`, 'utf8')).trim())
  const stoppedAt = Date.now()
  process.kill(pid1, 'SIGTERM')
  const [code] = await exited
  const took = Date.now() - stoppedAt
  t.equal(code, 0, 'ended by the stop, not by the start giving up')
  t.ok(took < 3000, `within ${took} ms of SIGTERM`)
})

import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { handleOf, redisKeys } from '../../src/lib/keys.js'
import type { RedisClient } from '../../src/platform/redis/client.js'
import type { Instance, InstancePairs } from './app-process.js'
import { call, type CallOptions } from './client.js'
import { logIn, register } from './flows.js'
import { PASSWORD, sessionIdOf } from './helper.js'

/**
 * The race that used to undo logouts and revocations: a session is ended while requests that change it are in
 * flight on two instances. Shared by the suites that run it against one Redis, a Cluster and a Sentinel group.
 */

/** Requests of the ended session kept in flight at any moment, half on each instance. */
export const WORKERS = 24
export const ADMIN = { ADMIN_USERNAME: 'race-admin', ADMIN_PASSWORD: PASSWORD }
/**
 * Generous limits: the races send thousands of requests from one address, and log in to one account many times at
 * once (the account lock judges at most its threshold of attempts at once).
 */
export const RACE_ENV = {
  // The races log in hundreds of times to set up what they race; the windows were tuned at 0.3.0's key-derivation cost,
  // and OWASP's would make these files four times slower without racing anything more (its own races:
  // test/credentials/change-races.test.ts).
  PASSWORD_HASH_COST: '15',
  RATE_LIMIT_MAX: '1000000',
  CREDENTIAL_RATE_LIMIT_MAX: '1000000',
  LOGIN_RATE_LIMIT_MAX: '1000000',
  ACCOUNT_LOCK_THRESHOLD: '1000',
  MAX_SESSIONS_PER_USER: '2',
  ...ADMIN,
}

const handleOfCookie = (cookie: string) => handleOf(sessionIdOf(cookie))

const THEMES = ['light', 'dark', 'system']
let changes = 0

/** How a request proves its session: a cookie, or a bearer token. */
type Credential = Pick<CallOptions, 'cookie' | 'authorization'>

/** The two kinds of session-changing request: an atomic increment and a per-field write (of a new value each time). */
const CHANGES = [
  (url: string, credential: Credential) => call(url, 'POST', '/api/count', credential),
  (url: string, credential: Credential) => call(url, 'PATCH', '/api/preferences', { ...credential, body: { theme: THEMES[changes++ % THEMES.length] } }),
]

/** One user with two sessions: the one to end (victim) and another one of theirs (witness). */
export interface Scenario {
  username: string
  password: string
  victim: string
  witness: string
}

interface StormResult {
  /** Statuses of the requests sent before the end was answered: in flight while it happened, or before it. */
  before: number[]
  /** Statuses of the requests sent after the end was answered. */
  after: number[]
}

/**
 * Keeps WORKERS session-changing requests of `credential` in flight, spread over the instances, while `end` runs; each
 * worker stops after one request sent once `end` was answered.
 */
async function storm(instances: Instance[], credential: Credential, end: () => Promise<void>): Promise<StormResult> {
  const result: StormResult = { before: [], after: [] }
  let ended = false
  const worker = async (i: number) => {
    const change = CHANGES[i % CHANGES.length]!
    for (;;) {
      const sentAfterEnd = ended
      const { status } = await change(instances[i % instances.length]!.url, credential)
      ;(sentAfterEnd ? result.after : result.before).push(status)
      if (sentAfterEnd) return
    }
  }
  const workers = Array.from({ length: WORKERS }, (_, i) => worker(i))
  while (result.before.length < WORKERS) await sleep(1)
  await end()
  ended = true
  await Promise.all(workers)
  return result
}

/** One way a session can end, run against a scenario (the instance given is the one the ending request goes to). */
export interface Ending {
  name: string
  end(scenario: Scenario, via: Instance, redis: RedisClient): Promise<void>
  /** Settings the instances need for this ending. */
  env?: Record<string, string>
}

async function expectStatus(promise: Promise<{ status: number; body: unknown }>, status: number, what: string): Promise<void> {
  const reply = await promise
  if (reply.status !== status) throw new Error(`${what}: ${reply.status} ${JSON.stringify(reply.body)}`)
}

/** The admin's session on each instance, logged in once (key derivations are what makes these tests slow). */
const adminSessions = new WeakMap<Instance, Promise<string>>()
function adminOn(via: Instance): Promise<string> {
  if (!adminSessions.has(via)) {
    const session = logIn(via, ADMIN.ADMIN_USERNAME)
    session.catch(() => adminSessions.delete(via))
    adminSessions.set(via, session)
  }
  return adminSessions.get(via)!
}

/** What an admin does to end every session of a user. */
async function endAllSessions(via: Instance, username: string): Promise<void> {
  const reply = call(via.url, 'DELETE', `/admin/users/${username}/sessions`, { cookie: await adminOn(via) })
  await expectStatus(reply, 200, 'admin end')
}

/** An admin disables the account, then enables it again for the next trial: what was ended stays ended. */
async function disableAndEnable(via: Instance, username: string): Promise<void> {
  const cookie = await adminOn(via)
  await expectStatus(call(via.url, 'PATCH', `/admin/users/${username}`, { cookie, body: { disabled: true } }), 200, 'disable')
  await expectStatus(call(via.url, 'PATCH', `/admin/users/${username}`, { cookie, body: { disabled: false } }), 200, 'enable')
}

/** An admin deletes the account, and the name is registered again for the next trial. */
async function deleteAndRegister(via: Instance, username: string, password: string): Promise<void> {
  await expectStatus(call(via.url, 'DELETE', `/admin/users/${username}`, { cookie: await adminOn(via) }), 200, 'delete')
  await expectStatus(call(via.url, 'POST', '/auth/register', { body: { username, password } }), 201, 'register again')
}

export function endings(keyPrefix: string): Ending[] {
  return [
    {
      name: 'logout',
      end: ({ victim }, via) => expectStatus(call(via.url, 'POST', '/auth/logout', { cookie: victim }), 204, 'logout'),
    },
    {
      name: 'revoke one (DELETE /auth/sessions/:id)',
      end: ({ victim, witness }, via) =>
        expectStatus(call(via.url, 'DELETE', `/auth/sessions/${handleOfCookie(victim)}`, { cookie: witness }), 204, 'revoke'),
    },
    {
      name: 'revoke others (DELETE /auth/sessions)',
      end: ({ witness }, via) => expectStatus(call(via.url, 'DELETE', '/auth/sessions', { cookie: witness }), 200, 'revoke others'),
    },
    {
      name: 'logout everywhere',
      end: ({ witness }, via) =>
        expectStatus(call(via.url, 'POST', '/auth/logout', { cookie: witness, body: { everywhere: true } }), 204, 'logout everywhere'),
    },
    {
      name: 'admin end (DELETE /admin/users/:username/sessions)',
      end: ({ username }, via) => endAllSessions(via, username),
    },
    {
      name: 'account disabled (PATCH /admin/users/:username)',
      end: ({ username }, via) => disableAndEnable(via, username),
    },
    {
      name: 'account deleted (DELETE /admin/users/:username)',
      end: ({ username, password }, via) => deleteAndRegister(via, username, password),
    },
    {
      name: 'password change',
      async end(scenario, via) {
        const newPassword = `${scenario.password}!`
        const body = { currentPassword: scenario.password, newPassword }
        await expectStatus(call(via.url, 'PUT', '/auth/password', { cookie: scenario.witness, body }), 204, 'password change')
        scenario.password = newPassword
      },
    },
    {
      // MAX_SESSIONS_PER_USER is 2: a third login ends the least recently seen, the victim (logged in first).
      name: 'per-user cap',
      end: async ({ username, password }, via) => void (await logIn(via, username, password)),
    },
    {
      // Sessions that live 1 s whatever their use: the storm keeps going until Redis has dropped the key. (Idle
      // expiry ends a session in the same way, the TTL running out, but a session in use keeps sliding it.)
      name: 'expiry',
      env: { SESSION_ABSOLUTE_TTL: '1' },
      async end({ victim }, _via, redis) {
        while ((await redis.exists(redisKeys(keyPrefix).session(handleOfCookie(victim)))) === 1) await sleep(5)
      },
    },
  ]
}

/** Statuses a request of the racing session may get: during a failover, 503 too. */
const ALLOWED = { before: [200, 401], after: [401] }
const ALLOWED_IN_FAILOVER = { before: [200, 401, 503], after: [401, 503] }

/** What went wrong after one trial: each entry names a way the ended session showed signs of life. */
async function revivals(
  instances: Instance[],
  admin: Instance,
  redis: RedisClient,
  keyPrefix: string,
  scenario: Scenario,
  result: StormResult,
  allowed = ALLOWED,
): Promise<string[]> {
  const found: string[] = []
  if (result.before.some((status) => !allowed.before.includes(status))) found.push(`unexpected statuses ${result.before.join(',')}`)
  if (result.after.some((status) => !allowed.after.includes(status))) found.push(`answered after the end: ${result.after.join(',')}`)
  // Give any write still on its way the time to land before looking.
  await sleep(50)
  for (const instance of instances) {
    const me = await call(instance.url, 'GET', '/auth/me', { cookie: scenario.victim })
    if (me.status !== 401) found.push(`GET /auth/me answered ${me.status}`)
  }
  const handle = handleOfCookie(scenario.victim)
  if ((await redis.exists(redisKeys(keyPrefix).session(handle))) !== 0) found.push('the session is back in Redis')
  const list = async () => call(admin.url, 'GET', `/admin/users/${scenario.username}/sessions`, { cookie: await adminOn(admin) })
  let listed = await list()
  if (listed.status === 401) {
    // The admin's own login can be lost in a failover (written to the old master after the switch): log in again.
    adminSessions.delete(admin)
    listed = await list()
  }
  if (listed.status !== 200) found.push(`the list answered ${listed.status} ${JSON.stringify(listed.body)}`)
  else if ((listed.body.sessions as Array<{ id: string }>).some(({ id }) => id === handle)) found.push('the session is listed')
  return found
}

export interface RaceSetup {
  redis: RedisClient
  keyPrefix: string
  trials: number
  /** Two instances of the service with these extra settings (the same pair for the same settings). */
  instances: InstancePairs
  /** An instance with the default settings, for the admin's requests (whose session must outlive an expiry test's). */
  admin: Instance
}

/**
 * Runs every ending `trials` times, each with a session under a storm of changes, and checks that it stays ended.
 * One subtest per ending, asserting no revival; the counts go to the test log (the closing note quotes them).
 */
export function raceEveryEnding(t: Test, { redis, keyPrefix, trials, instances: instancesWith, admin }: RaceSetup): void {
  for (const ending of endings(keyPrefix)) {
    t.test(`${ending.name}: the session stays ended while ${WORKERS} changes of it are in flight on two instances`, async (t) => {
      const instances = await instancesWith(ending.env)
      const username = `race-${ending.name.replace(/\W+/g, '-').slice(0, 20)}`.replace(/-$/, '')
      await register(instances[0]!, username)
      const scenario: Scenario = { username, password: PASSWORD, victim: '', witness: '' }
      const problems: string[] = []
      let inFlightRefused = 0
      let sent = 0
      for (let trial = 0; trial < trials; trial++) {
        scenario.victim = await logIn(instances[0]!, username, scenario.password)
        scenario.witness = await logIn(instances[1]!, username, scenario.password)
        const result = await storm(instances, { cookie: scenario.victim }, () => ending.end(scenario, instances[trial % 2]!, redis))
        sent += result.before.length + result.after.length
        inFlightRefused += result.before.filter((status) => status === 401).length
        for (const problem of await revivals(instances, admin, redis, keyPrefix, scenario, result)) problems.push(`trial ${trial}: ${problem}`)
        // Start the next trial with no session left over (the witness, a session the cap's login made).
        await endAllSessions(admin, username)
      }
      t.same(problems, [], `${trials} trials, ${sent} changing requests: never 200 after the end, never back in Redis or the list`)
      t.ok(inFlightRefused > 0, `the race was real: ${inFlightRefused} requests in flight when the session ended were refused`)
    })
  }
}

export interface FailoverRaceSetup {
  instances: Instance[]
  redis: RedisClient
  keyPrefix: string
  trials: number
  /** Starts a failover of the Redis master; resolves once it is under way. */
  failover(): Promise<void>
  /** Resolves once the new master has an in-sync replica again. */
  settled(): Promise<void>
}

/**
 * A logout while a failover is under way and the session's changes keep coming: requests may answer 503 while the
 * master switches, the logout is retried until it answers 204 as a client would, and the session must stay ended.
 */
export function raceThroughFailover(t: Test, { instances, redis, keyPrefix, trials, failover, settled }: FailoverRaceSetup): void {
  t.test(`a logout during a failover, with ${WORKERS} changes of the session in flight, stays final`, async (t) => {
    const [admin] = instances as [Instance]
    const username = 'failover-race'
    await register(admin, username)
    const problems: string[] = []
    const seen = new Map<number, number>()
    for (let trial = 0; trial < trials; trial++) {
      // Just after a failover, session ends (a login's cap) may answer 503 until the replica acknowledges: retry.
      let victim = ''
      await waitUntil(async () => Boolean((victim = await logIn(admin, username))))
      const scenario: Scenario = { username, password: PASSWORD, victim, witness: '' }
      const result = await storm(instances, { cookie: scenario.victim }, async () => {
        await failover()
        await waitUntil(async () => (await call(instances[trial % 2]!.url, 'POST', '/auth/logout', { cookie: scenario.victim })).status === 204)
      })
      for (const status of [...result.before, ...result.after]) seen.set(status, (seen.get(status) ?? 0) + 1)
      // Every instance writing to the new master before the checks, as clients would find them after the switch.
      await settled()
      for (const instance of instances) await waitUntil(async () => Boolean(await logIn(instance, username)))
      for (const problem of await revivals(instances, admin, redis, keyPrefix, scenario, result, ALLOWED_IN_FAILOVER)) problems.push(`trial ${trial}: ${problem}`)
    }
    t.same(problems, [], `${trials} failovers: the logged-out session never answered 200 again (statuses seen: ${JSON.stringify([...seen])})`)
  })
}

/** Retries `check` every 50 ms for up to 20 s. */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 20_000; Date.now() < end; await sleep(50)) if (await check().catch(() => false)) return
  throw new Error('timed out')
}

/** Ways a personal access token ends: revoked by its owner, or with its owner's account. */
interface TokenEnding {
  name: string
  end(via: Instance, owner: { username: string; cookie: string }, id: string): Promise<void>
  /** The owner's session ends too: log in again for the next trial. */
  endsOwner: boolean
}

const TOKEN_ENDINGS: TokenEnding[] = [
  {
    name: 'revoke an access token',
    end: (via, { cookie }, id) => expectStatus(call(via.url, 'DELETE', `/auth/tokens/${id}`, { cookie }), 204, 'revoke token'),
    endsOwner: false,
  },
  { name: "disable the token's owner", end: (via, { username }) => disableAndEnable(via, username), endsOwner: true },
  { name: "delete the token's owner", end: (via, { username }) => deleteAndRegister(via, username, PASSWORD), endsOwner: true },
]

/**
 * A personal access token ended (revoked, or its owner disabled or deleted) while requests that change its record are
 * in flight on two instances: it never answers 200 again, and never comes back in Redis or in its owner's list.
 */
export function raceTokenRevocation(t: Test, { redis, keyPrefix, trials, instances: instancesWith, admin }: RaceSetup): void {
  for (const ending of TOKEN_ENDINGS) {
    t.test(`${ending.name}: it stays ended while ${WORKERS} changes made with it are in flight on two instances`, async (t) => {
      const instances = await instancesWith()
      const [first, second] = instances as [Instance, Instance]
      const username = `race-token-${ending.name.split(' ')[0]}`
      await register(first, username)
      const owner = { username, cookie: await logIn(first, username) }
      const problems: string[] = []
      let inFlightRefused = 0
      let sent = 0
      for (let trial = 0; trial < trials; trial++) {
        const created = await call(first.url, 'POST', '/auth/tokens', { cookie: owner.cookie, body: { name: `race ${trial}`, scopes: ['read', 'write'] } })
        const { id, token } = created.body as { id: string; token: string }
        const credential = { authorization: `Bearer ${token}` }
        const result = await storm(instances, credential, () => ending.end(instances[trial % 2]!, owner, id))
        sent += result.before.length + result.after.length
        inFlightRefused += result.before.filter((status) => status === 401).length
        const found: string[] = []
        if (result.before.some((status) => !ALLOWED.before.includes(status))) found.push(`unexpected statuses ${result.before.join(',')}`)
        if (result.after.some((status) => !ALLOWED.after.includes(status))) found.push(`answered after the end: ${result.after.join(',')}`)
        await sleep(50)
        for (const instance of instances) {
          const me = await call(instance.url, 'GET', '/auth/me', credential)
          if (me.status !== 401) found.push(`GET /auth/me answered ${me.status}`)
        }
        if ((await redis.exists(redisKeys(keyPrefix).session(id))) !== 0) found.push('the token is back in Redis')
        if (ending.endsOwner) owner.cookie = await logIn(first, username)
        const listed = await call(second.url, 'GET', `/admin/users/${username}/tokens`, { cookie: await adminOn(admin) })
        if ((listed.body.tokens as Array<{ id: string }>).some((listedToken) => listedToken.id === id)) found.push('the token is listed')
        for (const problem of found) problems.push(`trial ${trial}: ${problem}`)
      }
      t.same(problems, [], `${trials} trials, ${sent} requests made with the token: never 200 after the end, never back in Redis or the list`)
      t.ok(inFlightRefused > 0, `the race was real: ${inFlightRefused} requests in flight when the token ended were refused`)
    })
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { Webhook } from 'standardwebhooks'
import { DEAD_WEBHOOK_QUEUE } from '../../src/platform/job-queue/queue.js'
import { webhookMessageId } from '../../src/security-events/index.js'
import { injected } from '../support/client.js'
import { build, freePort, logIn, register, type App } from '../support/helper.js'

// Every event to every WEBHOOK_URL, signed as Standard Webhooks, through the job queue: a real HTTP receiver here,
// verifying with the `standardwebhooks` package as a receiver in production would.

const SECRET = `whsec_${Buffer.from('a secret of thirty-two bytes!!!!').toString('base64')}`
const NEXT_SECRET = `whsec_${Buffer.from('the next secret, also 32 bytes..').toString('base64')}`

interface Received {
  headers: IncomingMessage['headers']
  body: string
}

/** An HTTP receiver on `port` that records every request and answers as `respond` says (200 by default). */
async function receiver(t: Test, port: number, respond: (response: ServerResponse) => void = (response) => {
  response.end()
}) {
  const received: Received[] = []
  const server: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      received.push({ headers: request.headers, body })
      respond(response)
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return received
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function metric(app: App, outcome: string): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((candidate) => candidate.startsWith(`webhook_deliveries_total{outcome="${outcome}"}`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

t.test('every event reaches every receiver, signed by each secret, and verifies with standardwebhooks', async (t) => {
  const [first, second] = [await freePort(), await freePort()]
  const [one, two] = [await receiver(t, first), await receiver(t, second)]
  const app = await build(t, {
    WEBHOOK_URL: `http://127.0.0.1:${first}/hooks, http://127.0.0.1:${second}/hooks`,
    WEBHOOK_SECRET: `${SECRET} ${NEXT_SECRET}`,
  })
  const via = injected(app)
  await register(via, 'ada')
  await logIn(via, 'ada')
  const events = await app.securityEvents.page({}, 10)
  await until('both receivers to get both events', () => one.length >= 2 && two.length >= 2)
  for (const [name, received] of [['first', one], ['second', two]] as const) {
    t.same(received.map((delivery) => delivery.headers['webhook-id']).sort(), events.map(webhookMessageId).sort(), `${name} receiver: one delivery per event, by id`)
    for (const secret of [SECRET, NEXT_SECRET]) {
      const verify = (delivery: Received) => new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>) as { type: string }
      const verified = received.map(verify)
      t.same(verified.map((payload) => payload.type).sort(), ['login', 'signup'], `${name} receiver: every delivery verifies with ${secret === SECRET ? 'the first' : 'the second'} secret`)
    }
    t.throws(() => new Webhook(`whsec_${Buffer.from('not the secret, but 32 bytes too').toString('base64')}`).verify(received[0]!.body, received[0]!.headers as Record<string, string>), 'another secret does not verify')
  }
  const payload = JSON.parse(one.find((delivery) => delivery.body.includes('"login"'))!.body)
  t.match(payload, { type: 'login', timestamp: String, data: { type: 'login', userId: String, actor: { type: 'user' }, address: '127.0.0.1', details: { transport: 'cookie' } } })
  t.equal(await metric(app, 'delivered'), 4)
})

t.test('a receiver that is down, then up, gets every event exactly once', async (t) => {
  const port = await freePort()
  const app = await build(t, { WEBHOOK_URL: `http://127.0.0.1:${port}/`, WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_DELAY_SECONDS: '1', LOGIN_RATE_LIMIT_MAX: '100' })
  const via = injected(app)
  await register(via, 'ada')
  for (let login = 0; login < 5; login++) await logIn(via, 'ada')
  await until('failed attempts while the receiver is down', async () => (await metric(app, 'retried')) >= 6)
  const received = await receiver(t, port)
  const ids = (await app.securityEvents.page({}, 100)).map(webhookMessageId)
  t.equal(ids.length, 6)
  await until('every event delivered', () => new Set(received.map((delivery) => delivery.headers['webhook-id'])).size === ids.length)
  await sleep(2500)
  const delivered = received.map((delivery) => String(delivery.headers['webhook-id']))
  t.same([...delivered].sort(), [...ids].sort(), 'each event once, none twice, after the receiver came back')
})

t.test('a slow receiver slows no request; a redirect is not followed; the last failure is dead', async (t) => {
  const [slowPort, targetPort, redirectPort] = [await freePort(), await freePort(), await freePort()]
  const held: ServerResponse[] = []
  await receiver(t, slowPort, (response) => {
    held.push(response)
  })
  const target = await receiver(t, targetPort)
  await receiver(t, redirectPort, (response) => {
    response.writeHead(307, { location: `http://127.0.0.1:${targetPort}/` })
    response.end()
  })
  const app = await build(t, {
    WEBHOOK_URL: `http://127.0.0.1:${slowPort}/,http://127.0.0.1:${redirectPort}/`,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_RETRY_LIMIT: '1',
    WEBHOOK_RETRY_DELAY_SECONDS: '1',
  })
  const via = injected(app)
  await register(via, 'ada')
  await until('the slow receiver to hold a delivery', () => held.length >= 1)
  t.equal((await via.call('POST', '/auth/login', { body: { username: 'ada', password: 'correct horse battery' } })).status, 200, 'a sign-in answers while a delivery waits on the slow receiver')
  await until('two attempts at the redirecting receiver to die', async () => (await metric(app, 'dead')) >= 2)
  t.equal(target.length, 0, 'the URL a redirect names never gets a delivery')
  const dead = await app.jobs.fetch(DEAD_WEBHOOK_QUEUE, { batchSize: 10 })
  t.equal(dead.length, 2, `the dead deliveries are kept in ${DEAD_WEBHOOK_QUEUE}`)
  for (const response of held) response.end()
})

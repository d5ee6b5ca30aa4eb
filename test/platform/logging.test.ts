import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import t, { type Test } from 'tap'
import { REDACTED_LOG_PATHS, requestIdOf } from '../../src/app.js'
import { deferredChildLogger } from '../../src/platform/logging.js'

/** An app logging at `level` as the service does (its redaction, the deferred children), and its lines. */
async function loggingApp(t: Test, level: string) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) })
  const app = Fastify({ logger: { level, redact: REDACTED_LOG_PATHS, stream }, childLoggerFactory: deferredChildLogger, genReqId: requestIdOf })
  t.teardown(() => app.close())
  app.get('/quiet', async (request) => {
    request.log.info('below the level')
    return {}
  })
  app.get('/warns', async (request) => {
    request.log.warn({ body: { password: 'hunter2' } }, 'a warning')
    return {}
  })
  app.get('/nested', async (request) => {
    request.log.child({ job: 'mail' }).error('nested')
    return {}
  })
  app.get('/own-level', { logLevel: 'info' }, async (request) => {
    request.log.info('at the route level')
    return {}
  })
  await app.ready()
  // Counts the children made of the service's logger from here on.
  let children = 0
  const makeChild = app.log.child
  app.log.child = function countedChild(this: FastifyBaseLogger, ...args: Parameters<FastifyBaseLogger['child']>) {
    children++
    return makeChild.apply(this, args)
  } as FastifyBaseLogger['child']
  return { app, lines, children: () => children }
}

t.test('a request that logs nothing at the level the service runs makes no child logger', async (t) => {
  const { app, lines, children } = await loggingApp(t, 'warn')
  for (let i = 0; i < 5; i++) t.equal((await app.inject('/quiet')).statusCode, 200)
  t.equal(children(), 0, 'no child for five quiet requests')
  t.same(lines, [], 'and nothing written')
})

t.test('a line a request logs carries its request id and is redacted, as from an eager child', async (t) => {
  const { app, lines, children } = await loggingApp(t, 'warn')
  const response = await app.inject({ url: '/warns', headers: { 'x-request-id': 'trace-1' } })
  t.equal(response.statusCode, 200)
  t.equal(children(), 1, 'the child is made for the line')
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 40, reqId: 'trace-1', msg: 'a warning', body: { password: '[Redacted]' } })
  t.notMatch(JSON.stringify(lines), /hunter2/)
})

t.test('a route with its own level gets its child at once, at that level', async (t) => {
  const { app, lines, children } = await loggingApp(t, 'warn')
  t.equal((await app.inject('/own-level')).statusCode, 200)
  t.equal(children(), 1)
  t.match(lines.find((line) => line.msg === 'at the route level'), { level: 30 })
})

t.test('a child of the request logger carries both bindings', async (t) => {
  const { app, lines } = await loggingApp(t, 'warn')
  await app.inject({ url: '/nested', headers: { 'x-request-id': 'trace-2' } })
  t.match(lines, [{ level: 50, reqId: 'trace-2', job: 'mail', msg: 'nested' }])
})

import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import t, { type Test } from 'tap'
import { setTimeout } from 'node:timers/promises'
import nodemailer from 'nodemailer'
import type { MailTransport } from '../src/accounts/mail.js'
import sessionService from '../src/plugin.js'
import { logIn, signUp } from '../src/testing/index.js'
import { SESSION_SECURITY } from '../src/schemas/security.js'
import { json, loggedIn, PASSWORD, testConfig } from './support/helper.js'

// The service registered into a host's own Fastify instance, at Fastify's defaults, as a host app does.

const Greeting = Type.Object({ message: Type.String() })

const hostRoutes: FastifyPluginAsync = async (app) => {
  app.get('/host/hello', {
    preHandler: app.requireUser,
    schema: { operationId: 'hostHello', summary: 'hello', security: SESSION_SECURITY, response: { 200: Greeting } },
  }, async (request) => ({ message: `hello ${request.user.username}` }))
}

async function host(t: Test) {
  const app = Fastify()
  await app.register(sessionService, { config: await testConfig({ LOGIN_RATE_LIMIT_MAX: '100' }), routes: hostRoutes })
  // A route of the host's own, beside the plugin: no session, no guard.
  app.get('/ping', async () => ({ pong: true }))
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test("a host's Fastify at its defaults serves the service, its own routes and the routes it mounts in it", async (t) => {
  const app = await host(t)
  t.same((await app.inject({ url: '/ping' })).json(), { pong: true })
  t.equal((await app.inject({ url: '/host/hello' })).json().code, 'UNAUTHENTICATED', 'a guard answers in the service shape')
  const cookie = await loggedIn(app, 'hostuser')
  t.same((await app.inject({ url: '/host/hello', headers: { cookie } })).json(), { message: 'hello hostuser' })
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200)
})

t.test("the service's routes refuse what their schemas do not describe, whatever the host's Ajv would do", async (t) => {
  const app = await host(t)
  // Fastify's default Ajv drops unknown fields and turns "123" into 123: the service's routes must not.
  const unknownField = await app.inject({ method: 'POST', url: '/auth/register', ...json({ username: 'strict', password: PASSWORD, admin: true }) })
  t.equal(unknownField.statusCode, 400)
  t.equal(unknownField.json().code, 'VALIDATION')
  const cookie = await loggedIn(app, 'strict')
  const coerced = await app.inject({ method: 'PATCH', url: '/api/preferences', ...json({ language: 123 }), headers: { 'cookie': cookie, 'content-type': 'application/json' } })
  t.equal(coerced.statusCode, 400, 'a number is not turned into the string the schema asks for')
})

t.test('mount moves the auth routes and leaves out the groups a host does not want; the test helpers follow', async (t) => {
  const app = Fastify()
  await app.register(sessionService, { config: await testConfig(), mount: { auth: '/identity', api: false, admin: false } })
  t.teardown(() => app.close())
  await app.ready()
  const user = await signUp(app, { username: 'mounted' })
  const { headers } = await logIn(app, { username: 'mounted' })
  t.same((await app.inject({ url: '/identity/me', headers })).json().user.id, user.id)
  t.equal((await app.inject({ url: '/auth/me', headers })).statusCode, 404, 'not at the default prefix')
  t.equal((await app.inject({ url: '/api/dashboard', headers })).statusCode, 404, 'no sample API')
  t.equal((await app.inject({ url: '/admin/users', headers })).statusCode, 404, 'no admin API')
  const paths = Object.keys((await app.inject({ url: '/docs/json' })).json().paths as Record<string, unknown>)
  t.ok(paths.includes('/identity/login'), 'the OpenAPI document has the routes where they are')
  t.notOk(paths.some((path) => path.startsWith('/admin') || path.startsWith('/api')))
})

t.test("a host's own mail transport sends the service's mail", async (t) => {
  // nodemailer's JSON transport, which builds the message and sends it nowhere: the host's transport records it.
  const json = nodemailer.createTransport({ jsonTransport: true })
  const sent: Array<{ to: unknown; subject: unknown }> = []
  const transport: MailTransport = {
    sendMail: async (message: Parameters<typeof json.sendMail>[0]) => {
      sent.push({ to: message.to, subject: message.subject })
      return json.sendMail(message)
    },
  }
  const app = Fastify()
  await app.register(sessionService, { config: await testConfig(), mailTransport: transport })
  t.teardown(() => app.close())
  await app.ready()
  await signUp(app, { username: 'mailed', email: 'mailed@example.test' })
  for (let waited = 0; sent.length === 0 && waited < 10_000; waited += 100) await setTimeout(100)
  t.match(sent, [{ to: 'mailed@example.test', subject: /verify|confirm/i }])
})

t.test('a guard on a host route that loads no session is refused at registration, never served unguarded', async (t) => {
  const app = Fastify()
  await app.register(sessionService, { config: await testConfig() })
  t.teardown(() => app.close())
  // Registered on the host's instance beside the plugin, not through `routes`: no cookie or session is loaded there.
  t.throws(() => app.get('/host/secret', { preHandler: app.requireUser }, async () => 'secret'), /GET \/host\/secret is guarded, but its routes load no session.*"routes" option/)
  t.throws(() => app.delete('/host/secret', { preHandler: [app.requireRole('admin')] }, async () => 'gone'), /DELETE \/host\/secret is guarded/)
  t.equal((await app.inject({ url: '/host/secret' })).statusCode, 404, 'no such route was made')
})

t.test('a folder guard on a host plugin that loads no session stops the start', async (t) => {
  const app = Fastify()
  await app.register(sessionService, { config: await testConfig() })
  await t.rejects(async () => app.register(async (plugin) => plugin.guardRoutes(app.requireUser)), /app.guardRoutes is guarded, but its routes load no session/)
  // A failed start leaves Fastify closed or closing; either way nothing stays open.
  await app.close().catch(() => {})
})

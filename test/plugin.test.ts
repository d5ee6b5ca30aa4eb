import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import t, { type Test } from 'tap'
import sessionService from '../src/plugin.js'
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

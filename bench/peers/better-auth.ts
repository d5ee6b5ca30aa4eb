// Peer row: better-auth, as its users would deploy it beside this service: on Fastify, accounts in PostgreSQL, sessions
// in Redis as its secondary storage, cookie cache off (so that a read checks the session in Redis, as ours does).
// Installed apart from the service (npm run bench's prebench step): its optional peer dependencies conflict with tap's.
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { fromNodeHeaders } from 'better-auth/node'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'

const PREFIX = 'bench-better-auth:'
const redis = new Redis(process.env.REDIS_URL ?? '')
const origin = `http://127.0.0.1:${process.env.PORT}`
const auth = betterAuth({
  baseURL: origin,
  secret: process.env.SESSION_SECRET,
  database: new pg.Pool({ connectionString: process.env.DATABASE_URL }),
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  secondaryStorage: {
    get: (key) => redis.get(PREFIX + key),
    getAndDelete: (key) => redis.getdel(PREFIX + key),
    set: (key, value, ttl) => (ttl ? redis.set(PREFIX + key, value, 'EX', ttl) : redis.set(PREFIX + key, value)),
    delete: (key) => redis.del(PREFIX + key).then(() => null),
    async increment(key, ttl) {
      const count = await redis.incr(PREFIX + key)
      if (count === 1) await redis.expire(PREFIX + key, ttl)
      return count
    },
  },
})
await (await getMigrations(auth.options)).runMigrations()

const app = Fastify()
// Its own routes (sign-up, sign-in...), handed over as web Requests, the way its Fastify guide does.
app.route({
  method: ['GET', 'POST'],
  url: '/api/auth/*',
  async handler(request, reply) {
    const body = request.body === undefined ? undefined : JSON.stringify(request.body)
    const response = await auth.handler(new Request(origin + request.url, { method: request.method, headers: fromNodeHeaders(request.headers), body }))
    reply.status(response.status)
    response.headers.forEach((value, name) => name !== 'set-cookie' && reply.header(name, value))
    reply.header('set-cookie', response.headers.getSetCookie())
    return reply.send(await response.text())
  },
})
app.get('/dashboard', async (request, reply) => {
  const session = await auth.api.getSession({ headers: fromNodeHeaders(request.headers) })
  if (!session) return reply.code(401).send({ message: 'unauthenticated' })
  return { message: `Welcome ${session.user.name}` }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })

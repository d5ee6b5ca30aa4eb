// Baseline B: Fastify + @fastify/session at its default options (rolling and saveUninitialized on) on
// connect-redis, or on its in-memory store with BENCH_STORE=memory. Only `secure` is off, so that the cookie is set
// over plain HTTP at all. BENCH_TUNED=true turns rolling and saveUninitialized off: the library's own floor for a
// read (one GET, no write), with nothing else around it.
import fastifyCookie from '@fastify/cookie'
import fastifySession, { type SessionStore } from '@fastify/session'
import { RedisStore } from 'connect-redis'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
// The session's shape (request.session.user) is the service's own.
import type {} from '../../src/sessions/http.js'

const memory = process.env.BENCH_STORE === 'memory'
const tuned = process.env.BENCH_TUNED === 'true'
const app = Fastify()
await app.register(fastifyCookie)
await app.register(fastifySession, {
  secret: process.env.SESSION_SECRET ?? '',
  cookie: { secure: false },
  ...(tuned && { rolling: false, saveUninitialized: false }),
  ...(memory ? {} : { store: new RedisStore({ client: new Redis(process.env.REDIS_URL ?? ''), prefix: 'bench-fastify:' }) as SessionStore }),
})
app.post('/login', async (request) => {
  await request.session.regenerate()
  request.session.user = { id: '1', username: 'benchuser', roles: ['user'] }
  return { ok: true }
})
app.get('/dashboard', async (request, reply) => {
  if (!request.session.user) return reply.code(401).send({ message: 'unauthenticated' })
  return { message: `Welcome ${request.session.user.username}` }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
// Stopped with SIGTERM, it exits on its own, so that a CPU profile (npm run bench:profile) is written.
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))

// The one-round-trip limit: what an authenticated read must cost at the least. Fastify, the signed session cookie
// checked (signatures remembered, as the service does), one Redis GET of the session, JSON.parse, a small JSON
// answer. No other work: the service's rows are reported as a ratio to this one.
import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { memoizedSigner } from '../../src/lib/memoized-signer.js'

const COOKIE = 'sid'
const signer = memoizedSigner([process.env.SESSION_SECRET ?? ''], 10_000)
const redis = new Redis(process.env.REDIS_URL ?? '', { enableAutoPipelining: true })
const app = Fastify()
await app.register(fastifyCookie)
const key = (id: string) => `bench-limit:${id}`

app.post('/login', async (_request, reply) => {
  const id = crypto.randomUUID()
  await redis.set(key(id), JSON.stringify({ user: { id: '1', username: 'benchuser', roles: ['user'] } }), 'EX', 3600)
  reply.header('set-cookie', `${COOKIE}=${signer.sign(id)}; Path=/; HttpOnly`)
  return { ok: true }
})
app.get('/dashboard', async (request, reply) => {
  const cookie = request.cookies[COOKIE]
  const id = cookie === undefined ? null : signer.unsign(cookie).value
  const stored = id === null ? null : await redis.get(key(id))
  if (stored === null) return reply.code(401).send({ message: 'unauthenticated' })
  const session = JSON.parse(stored) as { user: { username: string } }
  return { message: `Welcome ${session.user.username}` }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })

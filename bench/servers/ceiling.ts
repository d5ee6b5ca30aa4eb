// Ceiling: the same JSON answer from a bare Fastify route, with no session and no rate limit.
import Fastify from 'fastify'

const app = Fastify()
app.post('/login', async () => ({ ok: true }))
app.get('/dashboard', async () => ({ message: 'Welcome benchuser' }))
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })

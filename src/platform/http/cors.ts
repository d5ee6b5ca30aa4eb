import fp from 'fastify-plugin'
import fastifyCors from '@fastify/cors'

/** Only the listed origins may call the API from a browser, with credentials (the session cookie). */
export default fp<{ origins: string[] }>(
  async function corsPlugin(app, { origins }) {
    await app.register(fastifyCors, {
      origin: origins.length > 0 ? origins : false,
      credentials: true,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    })
  },
  { name: 'cors' },
)

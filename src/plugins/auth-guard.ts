import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { SessionExpired, Unauthenticated } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler that lets a request through only with a live, logged-in session. */
    requireSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export default fp(
  async function authGuardPlugin(app) {
    app.decorate('requireSession', async function requireSession(request: FastifyRequest, reply: FastifyReply) {
      if (request.session.user) return
      // A validly signed cookie whose session is gone: tell the client why, and drop the dead cookie.
      if (app.sessionCookie.isSigned(request)) {
        app.sessionCookie.clear(reply)
        throw new SessionExpired()
      }
      throw new Unauthenticated()
    })
  },
  { name: 'auth-guard', dependencies: ['session'] },
)

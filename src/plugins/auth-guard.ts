import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Forbidden, SessionExpired, Unauthenticated } from '../errors.js'
import { sessionKeyId } from '../lib/keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler that lets a request through only with a live, logged-in session. */
    requireSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preHandler that also requires every one of `roles`: 403 FORBIDDEN otherwise. */
    authorize: (...roles: string[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export default fp(
  async function authGuardPlugin(app) {
    app.decorate('requireSession', async function requireSession(request: FastifyRequest, reply: FastifyReply) {
      if (request.session.user) return
      // A validly signed cookie whose session is gone: tell the client why (the session plugin drops the cookie).
      const goneSessionId = app.sessionCookie.signedId(request)
      if (goneSessionId !== null) {
        app.recordEvent(request.log, 'session_expired', { session: sessionKeyId(goneSessionId), reason: 'gone' })
        throw new SessionExpired()
      }
      throw new Unauthenticated()
    })

    app.decorate('authorize', (...roles: string[]) => {
      return async function authorize(request: FastifyRequest, reply: FastifyReply) {
        await app.requireSession(request, reply)
        const granted = request.session.user?.roles ?? []
        if (!roles.every((role) => granted.includes(role))) throw new Forbidden()
      }
    })
  },
  { name: 'auth-guard', dependencies: ['session'] },
)

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SessionExpired } from '../../errors.js'
import { authenticatedAt, authMethod } from '../../sessions/index.js'
import { MeResponse } from '../../schemas/auth.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { answer } from '../../schemas/components.js'

/** GET /auth/me: a session or an access token (read scope). */
const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireUser)

  app.get(
    '/me',
    {
      schema: {
        operationId: 'getMe',
        summary: 'The logged-in user and the session times',
        tags: ['auth'],
        security: SESSION_SECURITY,
        response: { 200: answer('The signed-in user, this session, two-factor state and email', MeResponse) },
      },
      config: { readsAccount: true },
    },
    async (request) => {
      const { session } = request
      // From Redis alone: the account's snapshot (accounts/snapshots.ts), filled from PostgreSQL only on a miss.
      const account = await request.accountSnapshot()
      if (account === null) throw new SessionExpired()
      const iso = (ms: number) => new Date(ms).toISOString()
      const created = session.createdAt ?? Date.now()
      const authenticated = authenticatedAt(session)
      // A session never re-authenticated was proved at its creation: one conversion (about 1 µs each) serves both.
      const createdAt = iso(created)
      return {
        user: account.user,
        session: {
          createdAt,
          expiresAt: iso(request.sessionExpiresAt ?? Date.now()),
          remember: session.remember === true,
          authenticatedAt: authenticated === created ? createdAt : iso(authenticated),
          authMethod: authMethod(session),
        },
        mfa: account.mfa,
        email: account.email?.address ?? null,
        emailVerified: account.email?.verified ?? false,
        pendingEmail: account.pendingEmail,
      }
    },
  )
}

export default meRoutes

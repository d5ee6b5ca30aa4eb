import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidCredentials, MfaCodeRequired } from '../../errors.js'
import { AccountDeletion } from '../../schemas/accounts.js'
import { errorResponses, NoContent } from '../../schemas/error.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import type { CredentialRateLimit } from './index.js'

/** My account as a whole: DELETE /auth/account (GDPR Art. 17), from a fresh login with my password and second factor. */
const accountRoutes: FastifyPluginAsyncTypebox<{ credentialRateLimit: CredentialRateLimit }> = async (app, options) => {
  app.addHook('preHandler', app.requireLogin)

  app.delete(
    '/account',
    {
      config: { rateLimit: options.credentialRateLimit },
      preHandler: app.requireFresh(),
      schema: {
        summary: 'Delete my account and everything stored for me (fresh session, my password, and my code when two-factor login is on): every session and token ends, the cookie is cleared',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: AccountDeletion,
        response: { 204: NoContent, ...errorResponses(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id, username } = request.user
      const account = await app.credentials.provePassword(request, reply, username, request.body.password, id)
      if (account === null) throw new InvalidCredentials()
      if (account.mfa !== null) {
        if (request.body.code === undefined) throw new MfaCodeRequired()
        await app.credentials.proveSecondFactor(request, reply, account, request.body.code, 'delete_account')
      }
      const ended = await app.accountLifecycle.remove(account.user)
      await app.sessions.end(request)
      app.recordEvent(request.log, 'account_deleted', { userId: id, by: id, ...ended }, ended.sessions)
      return reply.code(204).send()
    },
  )
}

export default accountRoutes

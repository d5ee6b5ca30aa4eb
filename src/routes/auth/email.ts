import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../../schemas/error.js'
import { EmailBody, MailQueuedResponse } from '../../schemas/recovery.js'
import { SESSION_SECURITY } from '../../schemas/security.js'

/** PUT /auth/email: a login session (not an access token), fresh, like every change of how the account is reached. */
const emailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireLogin)

  app.put(
    '/email',
    {
      preHandler: app.requireFresh(),
      schema: {
        summary: 'Change my email address (fresh session): a confirmation link goes to the new one, a notice to the verified one; it changes once confirmed',
        tags: ['recovery'],
        security: SESSION_SECURITY,
        body: EmailBody,
        response: { 202: MailQueuedResponse, ...errorResponses('REAUTH_REQUIRED') },
      },
    },
    async (request, reply) => {
      const { email } = request.body
      await app.limitMailAddress(request, reply, email)
      await app.accountRecovery.changeEmail(await app.currentAccount(request), email)
      app.recordEvent(request.log, 'email_change_requested', { userId: request.user.id })
      return reply.code(202).send({ message: 'A confirmation link is on its way to the new address.' })
    },
  )
}

export default emailRoutes

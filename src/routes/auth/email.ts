import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sameAddress } from '../../lifecycle/index.js'
import { NoContent } from '../../schemas/error.js'
import { EmailBody, MailQueuedResponse } from '../../schemas/recovery.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { answer } from '../../schemas/components.js'

/**
 * PUT /auth/email: a login session (not an access token), fresh, like every change of how the account is reached.
 * DELETE /auth/email/pending takes a change back: a login session, not a fresh one, as it can only return the account
 * to its verified address (and an owner who sees a change they did not ask for must be able to stop it at once).
 */
const emailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireLogin)

  app.put(
    '/email',
    {
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'changeEmail',
        summary: 'Change my email address (fresh session): a confirmation link goes to the new one, a notice to the verified one; it changes once confirmed',
        tags: ['recovery'],
        security: SESSION_SECURITY,
        body: EmailBody,
        response: { 202: answer('A link to confirm the new address is on its way', MailQueuedResponse) },
      },
    },
    async (request, reply) => {
      const { email } = request.body
      await app.limitMailAddress(request, reply, email)
      // The verified address gets a notice of the change: a mail to it too, counted toward its own limit, so that a
      // session cannot flood the owner's mailbox with notices.
      const { email: current } = await app.currentAccount(request)
      if (current?.verified && !sameAddress(current.address, email)) await app.limitMailAddress(request, reply, current.address)
      await app.accountRecovery.changeEmail(request.user, email)
      app.recordEvent(request, 'email_change_requested', { userId: request.user.id })
      return reply.code(202).send({ message: 'A confirmation link is on its way to the new address.' })
    },
  )

  app.delete(
    '/email/pending',
    {
      schema: {
        operationId: 'cancelEmailChange',
        summary: 'Take back a change of my email address not yet confirmed: every link mailed for it stops working (an unconfirmed address is removed; a confirmed one stays)',
        tags: ['recovery'],
        security: SESSION_SECURITY,
        response: { 204: NoContent },
      },
    },
    async (request, reply) => {
      await app.accountRecovery.cancelEmailChange(request.user)
      app.recordEvent(request, 'email_change_cancelled', { userId: request.user.id })
      return reply.code(204).send()
    },
  )
}

export default emailRoutes

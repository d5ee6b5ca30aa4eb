import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { errorResponses, NoContent } from '../../schemas/error.js'
import type { Static, TObject } from '@sinclair/typebox'
import { Email, EmailBody, EmailVerification, EmailVerifiedResponse, MailQueuedResponse, PasswordResetBody, ResendBody } from '../../schemas/recovery.js'
import type { CredentialRateLimit } from './index.js'
import { PUBLIC } from '../../schemas/security.js'
import { answer } from '../../schemas/components.js'

/** The one answer of every request that may queue a mail to an address, known or not. */
const MAIL_QUEUED = { message: 'If an account has this address, a mail is on its way.' }

/**
 * A way back in, for clients without a session: POST /auth/password/forgot and /auth/password/reset, POST
 * /auth/email/verify and /auth/email/resend (lifecycle/recovery.ts says what each does and why). The tokens travel in
 * mailed links to the web app's pages: its answers tell the browser to send no Referer, so a token in a page's
 * address never leaves in a request to a third party.
 */
const recoveryRoutes: FastifyPluginAsyncTypebox<{ credentialRateLimit: CredentialRateLimit }> = async (app, options) => {
  const credentialLimit = { rateLimit: options.credentialRateLimit }
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('referrer-policy', 'no-referrer')
    reply.header('cache-control', 'no-store')
  })

  /** A request that may queue a mail to the address in its body: limited per address, the same answer whatever it is. */
  function mailRequestRoute<Body extends TObject<{ email: typeof Email }>>(
    url: string,
    operationId: string,
    summary: string,
    body: Body,
    queue: (request: FastifyRequest, body: Static<Body>) => Promise<void>,
  ) {
    app.post(
      url,
      { config: credentialLimit, schema: { operationId, summary, tags: ['recovery'], security: PUBLIC, body, response: { 202: answer('Queued: a link is mailed if an account matches (the answer is the same either way)', MailQueuedResponse) } } },
      async (request, reply) => {
        const fields = request.body as Static<Body>
        await app.limitMailAddress(request, reply, fields.email)
        await queue(request, fields)
        return reply.code(202).send(MAIL_QUEUED)
      },
    )
  }

  mailRequestRoute(
    '/password/forgot',
    'requestPasswordReset',
    'Ask for a password-reset link: mailed to the address if an account has it verified. The same answer, in the same time, whatever the address',
    EmailBody,
    async (request, { email }) => {
      await app.accountRecovery.requestReset(email)
      app.recordEvent(request, 'password_reset_requested')
    },
  )

  mailRequestRoute(
    '/email/resend',
    'resendVerification',
    'Mail a new confirmation link to an address not yet verified: to the newest accounts that gave it, or to the one named by username. The same answer whatever the address',
    ResendBody,
    (_request, { email, username }) => app.accountRecovery.requestResend(email, username),
  )

  app.post(
    '/password/reset',
    {
      config: credentialLimit,
      schema: {
        operationId: 'resetPassword',
        security: PUBLIC,
        summary: 'Choose a new password with a mailed reset link (and a code when two-factor login is on): every session and access token ends; no one is logged in',
        tags: ['recovery'],
        body: PasswordResetBody,
        response: { 204: NoContent, ...errorResponses('INVALID_TOKEN', 'MFA_CODE_REQUIRED', 'INVALID_MFA_CODE', 'ACCOUNT_LOCKED', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      try {
        const { user, ended } = await app.accountRecovery.resetPassword(app.claimantOf(request), request.body)
        app.recordEvent(request, 'password_reset', { userId: user.id, ...ended }, ended.sessions)
      } catch (error) {
        app.recordEvent(request, 'password_reset_failed', { reason: (error as { code?: string }).code })
        throw error
      }
      return reply.code(204).send()
    },
  )

  app.post(
    '/email/verify',
    {
      config: credentialLimit,
      schema: {
        operationId: 'verifyEmail',
        security: PUBLIC,
        summary: 'Confirm an email address with the mailed link: it becomes the account\'s verified address',
        tags: ['recovery'],
        body: EmailVerification,
        response: { 200: answer('The address is verified', EmailVerifiedResponse), ...errorResponses('INVALID_TOKEN', 'EMAIL_TAKEN') },
      },
    },
    async (request) => {
      const { userId, email } = await app.accountRecovery.verify(request.body.token)
      app.recordEvent(request, 'email_verified', { userId })
      return { email, emailVerified: true as const }
    },
  )
}

export default recoveryRoutes

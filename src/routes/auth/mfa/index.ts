import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidMfaCode, MfaAlreadyEnabled, MfaNotEnabled, NoMfaEnrolment } from '../../../errors.js'
import { sessionHandle } from '../../../sessions/index.js'
import type { SecondFactorStep } from '../../../credentials/index.js'
import type { Account } from '../../../accounts/index.js'
import { errorResponses } from '../../../schemas/error.js'
import { EnrolmentResponse, MfaCode, MfaDisabledResponse, MfaEnabledResponse, RecoveryCodesResponse, TotpConfirmation } from '../../../schemas/mfa.js'
import { SESSION_SECURITY } from '../../../schemas/security.js'
import { answer } from '../../../schemas/components.js'

/** An enrolment must be confirmed within this time of its start, by the session that started it. */
export const ENROLMENT_TTL_MS = 10 * 60_000

/**
 * Two-factor login of the logged-in user: /auth/mfa. Every route takes a login (never an access token); starting an
 * enrolment, turning it off and new recovery codes need a fresh session; turning it on or off ends every other
 * session of the user.
 */
const mfaRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireLogin)
  const documented = { tags: ['mfa'], security: SESSION_SECURITY }
  const fresh = app.requireFresh()

  /** The account of this session's user, with two-factor login on and `code` proved (and spent) for `step`. */
  async function provedAccount(request: FastifyRequest, reply: FastifyReply, code: string, step: SecondFactorStep): Promise<Account> {
    const account = await app.currentAccount(request)
    if (account.mfa === null) throw new MfaNotEnabled()
    await app.credentials.proveSecondFactor(app.claimantOf(request), account, code, step)
    return account
  }

  /** Ends every session of the user but this one; how many. */
  const endOtherSessions = (request: FastifyRequest) => app.sessionLifecycle.endAll(request.user, { keep: sessionHandle(request.session) })

  app.post(
    '/totp',
    {
      preHandler: fresh,
      schema: {
        ...documented,
        operationId: 'startTotpEnrolment',
        summary: 'Start enrolling an authenticator app (fresh session): a new secret, its otpauth:// URI and QR code; nothing changes until confirmed',
        response: { 200: answer('A new secret to scan or type; confirm it with a code before expiresAt', EnrolmentResponse), ...errorResponses('MFA_ALREADY_ENABLED') },
      },
    },
    async (request) => {
      const account = await app.currentAccount(request)
      if (account.mfa !== null) throw new MfaAlreadyEnabled()
      const { enrolment, sealedSecret } = await app.mfa.newEnrolment(account.user.username)
      const startedAt = Date.now()
      // Kept in this session only (written with it, sealed): confirming takes the session that saw the secret.
      request.session.mfaEnrolment = { sealedSecret, startedAt }
      return { ...enrolment, expiresAt: new Date(startedAt + ENROLMENT_TTL_MS).toISOString() }
    },
  )

  app.post(
    '/totp/confirm',
    {
      schema: {
        ...documented,
        operationId: 'confirmTotp',
        summary: "Turn two-factor login on with the app's current code: answers the recovery codes (shown once); every other session ends",
        body: TotpConfirmation,
        response: { 200: answer('Two-factor login is on: the recovery codes, shown only here', MfaEnabledResponse), ...errorResponses('MFA_ENROLMENT_NOT_STARTED', 'MFA_ALREADY_ENABLED', 'INVALID_MFA_CODE') },
      },
    },
    async (request) => {
      const { session } = request
      const enrolment = session.mfaEnrolment
      if (enrolment === undefined || Date.now() - enrolment.startedAt > ENROLMENT_TTL_MS) throw new NoMfaEnrolment()
      const { user } = await app.currentAccount(request)
      // A wrong code here proves nothing against the account (the secret is new): no lock count.
      const recoveryCodes = await app.mfa.enable(user, enrolment.sealedSecret, request.body.code)
      if (recoveryCodes === null) throw new InvalidMfaCode()
      delete session.mfaEnrolment
      const revokedSessions = await endOtherSessions(request)
      app.recordEvent(request, 'mfa_enabled', { userId: user.id, revokedSessions }, revokedSessions)
      return { recoveryCodes, revokedSessions }
    },
  )

  app.delete(
    '/totp',
    {
      preHandler: fresh,
      schema: {
        ...documented,
        operationId: 'disableTotp',
        summary: 'Turn two-factor login off (fresh session and a current code); every other session ends',
        body: MfaCode,
        response: { 200: answer('Two-factor login is off', MfaDisabledResponse), ...errorResponses('MFA_NOT_ENABLED', 'INVALID_MFA_CODE', 'ACCOUNT_LOCKED') },
      },
    },
    async (request, reply) => {
      const account = await provedAccount(request, reply, request.body.code, 'disable')
      if (!(await app.mfa.disable(account.user))) throw new MfaNotEnabled()
      const revokedSessions = await endOtherSessions(request)
      app.recordEvent(request, 'mfa_disabled', { userId: account.user.id, revokedSessions }, revokedSessions)
      return { revokedSessions }
    },
  )

  app.post(
    '/recovery-codes',
    {
      preHandler: fresh,
      schema: {
        ...documented,
        operationId: 'replaceRecoveryCodes',
        summary: 'New recovery codes in place of the old ones (fresh session and a current code); shown once',
        body: MfaCode,
        response: { 200: answer('New recovery codes, shown only here; the old ones no longer work', RecoveryCodesResponse), ...errorResponses('MFA_NOT_ENABLED', 'INVALID_MFA_CODE', 'ACCOUNT_LOCKED') },
      },
    },
    async (request, reply) => {
      const account = await provedAccount(request, reply, request.body.code, 'recovery_codes')
      const recoveryCodes = await app.mfa.replaceRecoveryCodes(account)
      if (recoveryCodes === null) throw new MfaNotEnabled()
      app.recordEvent(request, 'recovery_codes_replaced', { userId: account.user.id })
      return { recoveryCodes }
    },
  )
}

export default mfaRoutes

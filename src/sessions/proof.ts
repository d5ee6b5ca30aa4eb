import type { Session } from 'fastify'
import type { AuthMethod } from '../schemas/mfa.js'

/**
 * When the session's user last proved a credential, and with what. Stored only when they differ from the defaults (the
 * login's time, the password alone), so that a session holds, and every read decodes, as little as it can.
 */
export function authenticatedAt(session: Session): number {
  return session.authenticatedAt ?? session.createdAt ?? 0
}
export function authMethod(session: Session): AuthMethod {
  return session.authMethod ?? 'password'
}

import Bowser from 'bowser'
import type { ActorType } from '../platform/database/schema.js'
import type { LifecycleEvent } from '../platform/metrics.js'
import { SECURITY_EVENT_TYPES } from '../schemas/security-events.js'

export { SECURITY_EVENT_TYPES }

export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number]

// A set of lifecycle events: a kept type that metrics.ts does not log (and count) does not compile.
const KEPT = new Set<LifecycleEvent>(SECURITY_EVENT_TYPES)
export const isSecurityEventType = (event: LifecycleEvent): event is SecurityEventType => KEPT.has(event)

/**
 * The fields of an event kept in its details, by name; every other field is dropped. A list of what may be kept rather
 * than of what may not: a field added to a log line later (a password, a code, a token) never reaches the table or a
 * webhook unless it is named here. `token` is a personal access token's id, never the token.
 */
const DETAIL_FIELDS = new Set([
  'reason',
  'remember',
  'transport',
  'authMethod',
  'newDevice',
  'knownDevice',
  'step',
  'sessions',
  'revokedSessions',
  'tokens',
  'roles',
  'until',
  'scopes',
  'expiresInDays',
  'token',
  'recoveryCodesLeft',
  'by',
])

/** The details of an event: the fields DETAIL_FIELDS names, without those that say nothing. */
export function detailsOf(fields: Record<string, unknown>): Record<string, unknown> {
  const details: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) {
    if (DETAIL_FIELDS.has(name) && value !== undefined && value !== null) details[name] = value
  }
  return details
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Who acted, from what the event says: `by` names the admin (or the user, deleting their own account), `host` or
 * `system`; otherwise the request's own client did, named when it is signed in to the account concerned (a client
 * signed in as someone else that fails a sign-in to this account is not that someone).
 */
export function actorOf(
  fields: { userId?: unknown; by?: unknown },
  signedIn: string | null,
  fromRequest: boolean,
): { actorType: ActorType; actorId: string | null } {
  const { by, userId } = fields
  if (by === 'host') return { actorType: 'host', actorId: null }
  if (by === 'system' || !fromRequest) return { actorType: 'system', actorId: null }
  if (typeof by === 'string' && UUID.test(by)) return { actorType: by === userId ? 'user' : 'admin', actorId: by }
  return { actorType: 'user', actorId: signedIn !== null && signedIn === userId ? signedIn : null }
}

/** `by` as a detail: only when it says how (`token revocation`), not who (the actor's columns say that). */
export function howDetail(by: unknown): string | undefined {
  return typeof by === 'string' && by !== 'host' && by !== 'system' && !UUID.test(by) ? by : undefined
}

/** A browser and system in a few words ("Firefox 133 on Linux"), or the header's first 64 characters when unknown. */
export function describeUserAgent(header: string | undefined): string | null {
  if (!header) return null
  const { browser, os } = Bowser.parse(header)
  const name = browser.name ? [browser.name, browser.version?.split('.')[0]].filter(Boolean).join(' ') : null
  if (name === null) return header.slice(0, 64)
  return os.name ? `${name} on ${os.name}` : name
}

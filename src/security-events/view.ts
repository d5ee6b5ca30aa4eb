import type { SecurityEventView } from '../schemas/security-events.js'
import type { SecurityEvent } from './store.js'

export type { SecurityEventView } from '../schemas/security-events.js'

/** An event as the API and webhooks show it. */
export function toEventView({ occurredAt, ...event }: SecurityEvent): SecurityEventView {
  return { ...event, occurredAt: occurredAt.toISOString() }
}

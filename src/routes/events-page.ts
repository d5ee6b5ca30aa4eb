import type { FastifyInstance } from 'fastify'
import { toEventView, type SecurityEventFilter } from '../security-events/index.js'
import type { SecurityEventView } from '../schemas/security-events.js'

export const DEFAULT_EVENTS_PAGE = 50

/**
 * One page of events and the next page's cursor (the last event's id): the query strings of GET /auth/events and
 * GET /admin/events, turned into a filter. One more event than the page is read, so the last page says it is the last.
 */
export async function eventsPage(
  app: FastifyInstance,
  query: Omit<SecurityEventFilter, 'types' | 'before'> & { type?: string | undefined; cursor?: string | undefined },
  limit: string | undefined,
): Promise<{ events: SecurityEventView[]; nextCursor: string | null }> {
  const { type, cursor, ...filter } = query
  const size = Number(limit ?? DEFAULT_EVENTS_PAGE)
  const events = await app.securityEvents.page({ ...filter, ...(type && { types: type.split(',') }), ...(cursor && { before: cursor }) }, size + 1)
  const page = events.slice(0, size)
  return { events: page.map(toEventView), nextCursor: events.length > size ? page[page.length - 1]!.id : null }
}

import { isIP } from 'node:net'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidQuery, UserNotFound } from '../../errors.js'
import { AdminEventsQuery, SecurityEventsPage } from '../../schemas/security-events.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { errorResponses } from '../../schemas/error.js'
import { answer } from '../../schemas/components.js'
import { eventsPage } from '../events-page.js'

/** An address, or a network in CIDR form with a prefix its family allows: anything else PostgreSQL would refuse. */
function assertAddress(address: string): void {
  const [ip = '', prefix, ...rest] = address.split('/')
  const family = isIP(ip)
  const maxPrefix = family === 4 ? 32 : 128
  const prefixOk = prefix === undefined || (/^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix)
  if (family === 0 || !prefixOk || rest.length > 0) throw new InvalidQuery('address must be an IP address or a network in CIDR form (203.0.113.0/24)')
}

/** GET /admin/events: every account's security events (the admin guard is the folder's, in index.ts). */
const adminEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      schema: {
        operationId: 'searchSecurityEvents',
        summary: 'Security events of every account, newest first, a page at a time: by account (name or id), type, client address or network, and time range',
        tags: ['admin'],
        security: SESSION_SECURITY,
        querystring: AdminEventsQuery,
        response: { 200: answer('A page of events, and the cursor of the next (null: the last page)', SecurityEventsPage), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => {
      const { username, userId, address, from, to, type, limit, cursor } = request.query
      if (username !== undefined && userId !== undefined) throw new InvalidQuery('give username or userId, not both')
      if (address !== undefined) assertAddress(address)
      const account = username === undefined ? null : await app.users.findAccount(username)
      if (username !== undefined && account === null) throw new UserNotFound()
      const filter = {
        ...((account !== null || userId !== undefined) && { userId: account?.user.id ?? userId }),
        ...(address !== undefined && { address }),
        ...(from !== undefined && { from: new Date(from) }),
        ...(to !== undefined && { to: new Date(to) }),
      }
      return eventsPage(app, { ...filter, type, cursor }, limit)
    },
  )
}

export default adminEventRoutes

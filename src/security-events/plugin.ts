import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SecurityEventsConfig } from '../config.js'
import type { Account, QueuedMail } from '../accounts/index.js'
import type { Database } from '../platform/database/schema.js'
import type { EventOrigin, EventTrail, LifecycleEvent } from '../platform/metrics.js'
import { retriedAtStart } from '../platform/database/start-retries.js'
import { sessionHandle } from '../sessions/index.js'
import { actorOf, describeUserAgent, detailsOf, howDetail, isSecurityEventType } from './events.js'
import { securityEventStore, type NewSecurityEvent, type SecurityEvent, type SecurityEventFilter, type SecurityEventStore } from './store.js'
import { webhookDeliveries, type WebhookDeliveries } from './webhooks.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's security events, written before its answer is sent (made on first use). */
    trail: EventTrail
  }
  interface FastifyInstance {
    securityEvents: SecurityEvents
  }
}

export interface SecurityEvents {
  /** Up to `limit` events matching `filter`, newest first. */
  page(filter: SecurityEventFilter, limit: number): Promise<SecurityEvent[]>
  /**
   * Writes the events `origin` has kept so far within `within`, a transaction of the change they record: committed
   * with it, or not at all. Events kept after this are written with the answer, as usual.
   */
  writeKept(origin: EventOrigin, within: Database): Promise<void>
  /**
   * A sign-in from a browser new to the account: mails its verified address (NEW_DEVICE_MAIL), in the transaction
   * that writes the request's events. The caller has the account in hand, so the mail costs no query of its own.
   */
  noticeNewDevice(origin: EventOrigin, account: Account): void
  /** The table, for the retention job and for tests. */
  store: SecurityEventStore
}

export interface SecurityEventsPluginOptions {
  config: SecurityEventsConfig
  /** The service's PostgreSQL schema: partitions are made in it. */
  schema: string
  /** Where the web app's account page is (the new-device mail links to it). */
  accountUrl: string
}

/** How often each instance runs the retention pass (makes partitions ahead, drops expired ones). */
const RETENTION_INTERVAL_MS = 6 * 3_600_000

/** What a request leaves to write before its answer: its events, and the mails that go with them. */
interface Batch {
  events: NewSecurityEvent[]
  mails: QueuedMail[]
}

/**
 * A request's events: kept as the request records them (EventOrigin), written when its answer is about to be sent, in
 * one transaction with their webhook deliveries and mails. What is kept after that is written at once.
 */
class RequestTrail implements EventTrail {
  private pending: Batch | null = { events: [], mails: [] }

  constructor(
    readonly request: FastifyRequest,
    private readonly write: (batch: Batch) => void,
  ) {}

  keep(event: LifecycleEvent, fields: Record<string, unknown>): void {
    if (!isSecurityEventType(event)) return
    const { request } = this
    const user = request.session?.user
    const kept = toNewEvent(event, fields, {
      address: request.ip,
      userAgent: describeUserAgent(request.headers['user-agent']),
      session: user ? sessionHandle(request.session) : null,
      signedIn: user?.id ?? null,
    })
    this.add({ events: [kept], mails: [] })
  }

  add(batch: Batch): void {
    if (this.pending === null) this.write(batch)
    else {
      this.pending.events.push(...batch.events)
      this.pending.mails.push(...batch.mails)
    }
  }

  /** What is kept so far, which this trail no longer holds; `last`: what is kept from now on is written at once. */
  take({ last }: { last: boolean }): Batch {
    const taken = this.pending ?? { events: [], mails: [] }
    this.pending = last ? null : { events: [], mails: [] }
    return taken
  }
}

interface RequestContext {
  address: string | null
  userAgent: string | null
  session: string | null
  signedIn: string | null
}

const NO_REQUEST: RequestContext = { address: null, userAgent: null, session: null, signedIn: null }

function toNewEvent(type: NewSecurityEvent['type'], fields: Record<string, unknown>, context: RequestContext): NewSecurityEvent {
  const userId = typeof fields.userId === 'string' ? fields.userId : null
  const details = detailsOf(fields)
  const how = howDetail(fields.by)
  if (how === undefined) delete details.by
  else details.by = how
  return {
    type,
    userId,
    ...(userId === null && typeof fields.username === 'string' && { username: fields.username }),
    ...actorOf(fields, context.signedIn, context !== NO_REQUEST),
    address: context.address,
    userAgent: context.userAgent,
    // The request's own session only when it is the account's: a client signed in as someone else names none of it.
    session: typeof fields.session === 'string' ? fields.session : userId !== null && context.signedIn === userId ? context.session : null,
    details,
  }
}

/**
 * Security events (docs/security-events.md): every authentication decision and account change that recordEvent sees,
 * kept in PostgreSQL (store.ts) and delivered to WEBHOOK_URL (webhooks.ts). A request's events are written before its
 * answer: a sign-in answered 200 has its event. A write that fails (PostgreSQL down) is logged at error level with the
 * whole event, so none is lost without a trace; the request is still answered, its change having been made.
 */
export default fp<SecurityEventsPluginOptions>(
  async function securityEventsPlugin(app, { config, schema, accountUrl }) {
    const store = securityEventStore(app.db, schema)
    const webhooks: WebhookDeliveries = webhookDeliveries(app, config.webhooks)

    /** Writes events, queues their deliveries and mails, in one transaction: whether a mail was queued. */
    async function writeWithin({ events, mails }: Batch, within: Database): Promise<boolean> {
      const stored = await store.append(events, within)
      await webhooks.enqueue(stored, within)
      for (const mail of mails) await app.mail.enqueue(mail, within)
      return mails.length > 0
    }

    async function write(batch: Batch): Promise<void> {
      if (batch.events.length === 0 && batch.mails.length === 0) return
      try {
        const mailed = await app.db.transaction().execute((trx) => writeWithin(batch, trx))
        app.countSecurityEvents('written', batch.events.length)
        webhooks.wake()
        if (mailed) app.mail.wake()
      } catch (error) {
        app.countSecurityEvents('unwritten', batch.events.length)
        app.log.error({ err: error, securityEvents: batch.events }, 'security events not written (they are in this line)')
      }
    }

    const writeNow = (batch: Batch) => void write(batch)
    const trails = new WeakMap<FastifyRequest, RequestTrail>()
    app.decorateRequest('trail', {
      getter(this: FastifyRequest) {
        let trail = trails.get(this)
        if (trail === undefined) trails.set(this, (trail = new RequestTrail(this, writeNow)))
        return trail
      },
    })
    app.keepEventsWith((event, fields) => {
      if (isSecurityEventType(event)) writeNow({ events: [toNewEvent(event, fields, NO_REQUEST)], mails: [] })
    })

    // Before the answer leaves: a client told it signed in can find the sign-in in its history.
    app.addHook('onSend', async (request, _reply, payload) => {
      const trail = trails.get(request)
      if (trail !== undefined) await write(trail.take({ last: true }))
      return payload
    })

    app.decorate('securityEvents', {
      page: (filter, limit) => store.page(filter, limit),
      async writeKept(origin, within) {
        if (!(origin.trail instanceof RequestTrail)) return
        const batch = origin.trail.take({ last: false })
        if (batch.events.length === 0 && batch.mails.length === 0) return
        // Its mail waits for the workers' next look: the transaction has not committed yet.
        await writeWithin(batch, within)
        app.countSecurityEvents('written', batch.events.length)
      },
      noticeNewDevice(origin, { user, email }) {
        const trail = origin.trail
        if (!config.newDeviceMail || !(trail instanceof RequestTrail) || email === null || !email.verified) return
        const { request } = trail
        trail.add({
          events: [],
          mails: [{
            template: 'new-sign-in',
            to: email.address,
            username: user.username,
            browser: describeUserAgent(request.headers['user-agent']),
            address: request.ip,
            at: new Date().toISOString(),
            accountUrl,
          }],
        })
      },
      store,
    } satisfies SecurityEvents)

    await retention(app, store, config.retentionDays)
  },
  { name: 'security-events', dependencies: ['database', 'job-queue', 'metrics', 'mail'] },
)

/** Makes partitions ahead and drops expired ones now and every RETENTION_INTERVAL_MS (every instance; they take turns by lock). */
async function retention(app: FastifyInstance, store: SecurityEventStore, retentionDays: number): Promise<void> {
  const pass = async () => {
    const now = new Date()
    await store.preparePartitions(now)
    const dropped = await store.dropExpired(retentionDays, now)
    if (dropped.length > 0) app.log.info({ partitions: dropped, retentionDays }, 'security events past their retention dropped')
  }
  await retriedAtStart(app.log, 'prepare the security events\' partitions', pass)
  const timer = setInterval(() => {
    pass().catch((error: unknown) => app.log.warn({ err: error }, 'security events retention pass failed; the next one tries again'))
  }, RETENTION_INTERVAL_MS)
  timer.unref()
  app.addHook('onClose', () => clearInterval(timer))
}

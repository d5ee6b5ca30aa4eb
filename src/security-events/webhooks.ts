import type { FastifyInstance } from 'fastify'
import type PgBoss from 'pg-boss'
import { Webhook } from 'standardwebhooks'
import type { WebhookConfig } from '../config.js'
import type { Database } from '../platform/database/schema.js'
import { DEAD_WEBHOOK_QUEUE, WEBHOOK_QUEUE, queueConnection, retryOptions, startWorkers, type Workers } from '../platform/job-queue/queue.js'
import { toEventView, type SecurityEventView } from './view.js'
import type { SecurityEvent } from './store.js'

/** One event for one receiver, as it waits in the queue. */
interface Delivery {
  url: string
  /** The Standard Webhooks message id: the same on every attempt, so a receiver can drop a repeat. */
  id: string
  payload: { type: string; timestamp: string; data: SecurityEventView }
}

export interface WebhookDeliveries {
  /** Queues every event for every receiver, within the transaction that writes the events. */
  enqueue(events: readonly SecurityEvent[], within: Database): Promise<void>
  /** Makes this instance's idle workers deliver now (after the transaction committed). */
  wake(): void
}

/** A receiver that has not answered in this long has failed the attempt (it is retried). */
const ATTEMPT_TIMEOUT_MS = 10_000
// Well over the attempt's timeout, so that pg-boss never retries an attempt that is still waiting for its answer.
const ATTEMPT_EXPIRY_SECONDS = 60

/** The message id of an event: every receiver, and every attempt, gets the same one. */
export const webhookMessageId = (event: Pick<SecurityEvent, 'id'>) => `evt_${event.id}`

/**
 * Standard Webhooks deliveries through pg-boss, as mail goes (accounts/mail.ts): a request only queues (in the
 * transaction of its events), each instance's workers deliver, one attempt per job at a time. A 2xx answer delivers;
 * anything else (an error status, a redirect, no answer within ATTEMPT_TIMEOUT_MS) is retried with a doubling delay
 * (WEBHOOK_RETRY_LIMIT, WEBHOOK_RETRY_DELAY_SECONDS), then the delivery moves to DEAD_WEBHOOK_QUEUE. Each attempt is
 * signed afresh (its timestamp is the attempt's, which receivers check against their clock) by every WEBHOOK_SECRET.
 * A delivery goes to the URL it was queued for, never to one a redirect names.
 */
export function webhookDeliveries(app: FastifyInstance, config: WebhookConfig): WebhookDeliveries {
  const jobOptions = { ...retryOptions(config), expireInSeconds: ATTEMPT_EXPIRY_SECONDS, deadLetter: DEAD_WEBHOOK_QUEUE }
  let workers: Workers | null = null

  if (config.urls.length > 0) {
    const signers = config.secrets.map((secret) => new Webhook(secret))

    async function deliver(job: PgBoss.JobWithMetadata<Delivery>): Promise<void> {
      const { url, id, payload } = job.data
      const body = JSON.stringify(payload)
      const sentAt = new Date()
      const context = { jobId: job.id, webhookId: id, attempt: job.retryCount + 1 }
      try {
        const answer = await fetch(url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
            'webhook-signature': signers.map((signer) => signer.sign(id, sentAt, body)).join(' '),
          },
          body,
        })
        await answer.body?.cancel()
        if (answer.status < 200 || answer.status > 299) throw new Error(`the receiver answered ${answer.status}`)
      } catch (error) {
        const dead = job.retryCount >= job.retryLimit
        app.countWebhook(dead ? 'dead' : 'retried')
        if (dead) app.log.error({ ...context, err: error }, `webhook delivery dead after ${context.attempt} attempts: kept in the ${DEAD_WEBHOOK_QUEUE} queue`)
        else app.log.warn({ ...context, err: error }, 'webhook delivery failed; it will be retried')
        throw error
      }
      app.countWebhook('delivered')
    }

    const deliveryWorkers = startWorkers(app.jobs, WEBHOOK_QUEUE, deliver, { onQueueError: app.jobQueueFailed })
    app.addHook('onClose', () => deliveryWorkers.stop())
    workers = deliveryWorkers
  }

  return {
    async enqueue(events, within) {
      if (config.urls.length === 0 || events.length === 0) return
      const jobs = events.flatMap((event) => {
        const payload = { type: event.type, timestamp: event.occurredAt.toISOString(), data: toEventView(event) }
        return config.urls.map((url) => ({ name: WEBHOOK_QUEUE, data: { url, id: webhookMessageId(event), payload } satisfies Delivery, ...jobOptions }))
      })
      await app.jobs.insert(jobs, { db: queueConnection(within) })
    },
    wake: () => workers?.wake(),
  }
}

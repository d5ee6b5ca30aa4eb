import fp from 'fastify-plugin'
import nodemailer from 'nodemailer'
import type PgBoss from 'pg-boss'
import type { MailConfig } from '../../config.js'
import { queueConnection } from '../../db/job-queue.js'
import type { Database } from '../../db/database.js'
import { secretBox } from '../../lib/secret-box.js'
import { LINK_PATHS, renderMail, type QueuedMail } from '../../mail/templates.js'

declare module 'fastify' {
  interface FastifyInstance {
    mail: Mail
  }
}

export interface Mail {
  /** Queues a mail; `within` a transaction, it is queued only if that commits. Never sends on the request path. */
  enqueue(mail: QueuedMail, within?: Database): Promise<void>
  /** A link's token as the queue may hold it: sealed, so the queue's rows hold nothing that opens an account. */
  sealToken(token: string): string
}

export const MAIL_QUEUE = 'mail'
/** Where a mail goes after its last attempt failed: kept for operators (docs/operations.md), never retried by itself. */
export const DEAD_MAIL_QUEUE = 'mail.dead'
const DEAD_MAIL_RETENTION_DAYS = 30

// Well under the job's expiry, so that an attempt still talking to a slow server is never retried alongside it.
const SMTP_TIMEOUTS = { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 15_000 }
const ATTEMPT_EXPIRY_SECONDS = 60
/** How often an idle worker asks the queue for work. */
export const POLL_SECONDS = 1

export interface MailPluginOptions {
  mail: MailConfig
  secrets: string[]
  /** The service's name, as mails call it. */
  service: string
}

/** The domain of MAIL_FROM's address, for Message-IDs. */
function domainOf(from: string): string {
  return /@([^>\s]+)/.exec(from)?.[1] ?? 'localhost'
}

/**
 * Mail through pg-boss and SMTP (nodemailer). A request only queues (one INSERT, in the transaction of the change it
 * reports when there is one); a worker on each instance with MAIL_WORKER on delivers, one attempt per job at a time.
 * A failed attempt is retried with a doubling delay (MAIL_RETRY_LIMIT, MAIL_RETRY_DELAY_SECONDS): a mail server that is
 * down delays mail and loses none. Once the server accepted a mail the job completes, so no retry sends it again; the
 * Message-ID is the job's, so a receiver can drop the duplicate that a crash between acceptance and completion could
 * cause. After the last attempt the mail moves to DEAD_MAIL_QUEUE and an error is logged.
 */
export default fp<MailPluginOptions>(
  async function mailPlugin(app, { mail: config, secrets, service }) {
    const box = secretBox(secrets, 'mail links')
    const retry = { retryLimit: config.retryLimit, retryDelay: config.retryDelaySeconds, retryBackoff: true }
    await app.jobs.createQueue(DEAD_MAIL_QUEUE, { name: DEAD_MAIL_QUEUE, retentionDays: DEAD_MAIL_RETENTION_DAYS })
    await app.jobs.createQueue(MAIL_QUEUE, { name: MAIL_QUEUE, ...retry, expireInSeconds: ATTEMPT_EXPIRY_SECONDS, deadLetter: DEAD_MAIL_QUEUE })

    app.decorate('mail', {
      async enqueue(mail, within) {
        await app.jobs.send(MAIL_QUEUE, mail, { ...retry, ...(within && { db: queueConnection(within) }) })
        app.countMail('queued')
      },
      sealToken: (token) => box.seal(token),
    } satisfies Mail)

    if (!config.worker) return
    // Not pooled: each attempt opens its own connection, so nothing is left open to close.
    const transport = nodemailer.createTransport({ url: config.smtpUrl, ...SMTP_TIMEOUTS })
    const messageDomain = domainOf(config.from)

    /** The link a mail leads to; null when its token no longer opens (sealed under a secret since retired). */
    function linkOf(mail: QueuedMail): string | null | undefined {
      if (!('sealedToken' in mail)) return undefined
      const token = box.open(mail.sealedToken)?.plaintext
      return token === undefined ? null : `${config.publicUrl}${LINK_PATHS[mail.template]}?token=${encodeURIComponent(token)}`
    }

    async function deliver(job: PgBoss.JobWithMetadata<QueuedMail>): Promise<void> {
      const mail = job.data
      const context = { jobId: job.id, template: mail.template, attempt: job.retryCount + 1 }
      const link = linkOf(mail)
      if (link === null) {
        app.countMail('dead')
        app.log.error(context, 'mail dropped: its link was sealed under a SESSION_SECRET no longer configured')
        return
      }
      try {
        const rendered = renderMail(mail, service, link ?? null)
        await transport.sendMail({ from: config.from, to: mail.to, messageId: `<${job.id}@${messageDomain}>`, ...rendered })
      } catch (error) {
        const dead = job.retryCount >= job.retryLimit
        app.countMail(dead ? 'dead' : 'failed')
        if (dead) app.log.error({ ...context, err: error }, `mail dead after ${context.attempt} attempts: kept in the ${DEAD_MAIL_QUEUE} queue`)
        else app.log.warn({ ...context, err: error }, 'mail not sent; it will be retried')
        throw error
      }
      app.countMail('sent')
      app.log.info(context, 'mail sent')
    }

    await app.jobs.work<QueuedMail>(MAIL_QUEUE, { includeMetadata: true, batchSize: 1, pollingIntervalSeconds: POLL_SECONDS }, async ([job]) => deliver(job!))
  },
  { name: 'mail', dependencies: ['job-queue', 'metrics'] },
)

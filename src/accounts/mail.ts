import fp from 'fastify-plugin'
import nodemailer, { type Transporter } from 'nodemailer'
import type PgBoss from 'pg-boss'
import type { MailConfig } from '../config.js'
import { DEAD_MAIL_QUEUE, MAIL_QUEUE, queueConnection, retryOptions, startWorkers, type Workers } from '../platform/job-queue/queue.js'
import type { Database } from '../platform/database/connection.js'
import { secretBox } from '../lib/secret-box.js'
import { LINK_PATHS, renderMail, type QueuedMail } from './mail-templates.js'

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
  /** Makes this instance's idle workers deliver now: after a transaction that queued mail committed. */
  wake(): void
}

// Well under the job's expiry, so that an attempt still talking to a slow server is never retried alongside it.
const SMTP_TIMEOUTS = { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 15_000 }
const ATTEMPT_EXPIRY_SECONDS = 60

/** What sends a mail: a nodemailer transporter (SMTP, SES, a pool, ...) or anything with its sendMail. */
export type MailTransport = Pick<Transporter, 'sendMail'>

export interface MailPluginOptions {
  mail: MailConfig
  secrets: string[]
  /** The service's name, as mails call it. */
  service: string
  /** A host's own transport, instead of one to SMTP_URL. */
  transport?: MailTransport
}

/** The domain of MAIL_FROM's address, for Message-IDs. */
function domainOf(from: string): string {
  return /@([^>\s]+)/.exec(from)?.[1] ?? 'localhost'
}

/**
 * Mail through pg-boss and SMTP (nodemailer). A request only queues (one INSERT, in the transaction of the change it
 * reports when there is one); the workers of each instance with MAIL_WORKER on deliver, one attempt per job at a time.
 * A failed attempt is retried with a doubling delay (MAIL_RETRY_LIMIT, MAIL_RETRY_DELAY_SECONDS): a mail server that is
 * down delays mail and loses none. Once the server accepted a mail the job completes, so no retry sends it again; the
 * Message-ID is the job's, so a receiver can drop the duplicate that a crash between acceptance and completion could
 * cause. After the last attempt the mail moves to DEAD_MAIL_QUEUE and an error is logged.
 */
export default fp<MailPluginOptions>(
  async function mailPlugin(app, { mail: config, secrets, service, transport: hostTransport }) {
    const box = secretBox(secrets, 'mail links')
    const jobOptions = { ...retryOptions(config), expireInSeconds: ATTEMPT_EXPIRY_SECONDS, deadLetter: DEAD_MAIL_QUEUE }

    let workers: Workers | null = null
    app.decorate('mail', {
      async enqueue(mail, within) {
        // Through the service's connection (or its transaction): a mail is part of what the change that sends it costs.
        await app.jobs.send(MAIL_QUEUE, mail, { ...jobOptions, db: queueConnection(within ?? app.db) })
        app.countMail('queued')
        if (!within) workers?.wake()
      },
      sealToken: (token) => box.seal(token),
      wake: () => workers?.wake(),
    } satisfies Mail)

    if (!config.worker) return
    // Not pooled: each attempt opens its own connection, so nothing is left open to close.
    const transport = hostTransport ?? nodemailer.createTransport({ url: config.smtpUrl, requireTLS: config.requireTls, ...SMTP_TIMEOUTS })
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

    const mailWorkers = startWorkers(app.jobs, MAIL_QUEUE, deliver, { onQueueError: app.jobQueueFailed })
    app.addHook('onClose', () => mailWorkers.stop())
    workers = mailWorkers
  },
  { name: 'mail', dependencies: ['job-queue', 'metrics'] },
)

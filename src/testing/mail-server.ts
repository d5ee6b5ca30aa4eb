import Fastify from 'fastify'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { freePort } from './redis-server.js'

export type { ParsedMail } from 'mailparser'

/**
 * A real SMTP server on a free port (nodemailer's smtp-server) that parses what it accepts (mailparser): for the
 * tests, which read the mails and follow their links, and for `npm run dev` when no mail server answers. It can be
 * stopped and started again on the same port (a mail server that is down for a while).
 */
export class MailServer {
  readonly mails: ParsedMail[] = []
  private server: SMTPServer | null = null
  private readonly waiters = new Set<() => void>()

  private constructor(
    readonly port: number,
    private readonly onMail: (mail: ParsedMail) => void,
  ) {}

  static async start({ port, onMail = () => {} }: { port?: number; onMail?: (mail: ParsedMail) => void } = {}): Promise<MailServer> {
    const server = new MailServer(port ?? (await freePort()), onMail)
    await server.resume()
    return server
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`
  }

  /** Listens again after stop(), on the same port. */
  async resume(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _session, done) => {
        simpleParser(stream).then((mail) => {
          this.mails.push(mail)
          this.onMail(mail)
          for (const wake of this.waiters) wake()
          done()
        }, done)
      },
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.server = server
  }

  /** Mails sent to `to` (any letter case) whose subject matches, in the order they arrived. */
  to(to: string, subject = /./): ParsedMail[] {
    return this.mails.filter((mail) => addressesOf(mail).includes(to.toLowerCase()) && subject.test(mail.subject ?? ''))
  }

  /** Waits until `to` has received `count` mails whose subject matches (else throws after `timeoutMs`); returns them. */
  async waitFor(to: string, count = 1, subject = /./, timeoutMs = 20_000): Promise<ParsedMail[]> {
    const deadline = Date.now() + timeoutMs
    while (this.to(to, subject).length < count) {
      if (Date.now() > deadline) throw new Error(`${to} received ${this.to(to, subject).length} of ${count} mails in ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(wake, 200)
        this.waiters.add(wake)
      })
    }
    return this.to(to, subject)
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = null
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** A mail's recipients as Mailpit lists them. */
function recipientsOf(mail: ParsedMail): Array<{ Name: string; Address: string }> {
  const to = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []
  return to.flatMap((group) => group.value.map((entry) => ({ Name: entry.name, Address: entry.address ?? '' })))
}

/**
 * Mailpit's read API over the mails `catcher` holds: GET /api/v1/messages (newest first) and GET /api/v1/message/{ID}
 * (`latest` for the newest), with Mailpit's field names, so that what reads Mailpit (the README's mail block, a
 * script) reads `npm run dev`'s catcher too. Only those fields: it is a stand-in for reading, not a mail client.
 */
export async function serveMailpitApi(catcher: MailServer, port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const app = Fastify()
  const summaryOf = (mail: ParsedMail, index: number) => ({
    ID: String(index + 1),
    MessageID: mail.messageId ?? '',
    From: { Name: mail.from?.value[0]?.name ?? '', Address: mail.from?.value[0]?.address ?? '' },
    To: recipientsOf(mail),
    Subject: mail.subject ?? '',
    Created: (mail.date ?? new Date()).toISOString(),
  })
  app.get('/api/v1/messages', async () => {
    const messages = catcher.mails.map(summaryOf).reverse()
    return { total: messages.length, count: messages.length, start: 0, messages }
  })
  app.get<{ Params: { id: string } }>('/api/v1/message/:id', async (request, reply) => {
    const index = request.params.id === 'latest' ? catcher.mails.length - 1 : Number(request.params.id) - 1
    const mail = catcher.mails[index]
    if (!mail) return reply.code(404).type('text/plain').send('message not found')
    const { Created, ...summary } = summaryOf(mail, index)
    return { ...summary, Date: Created, Text: mail.text ?? '', HTML: typeof mail.html === 'string' ? mail.html : '' }
  })
  await app.listen({ port, host: '127.0.0.1' })
  return { url: `http://127.0.0.1:${port}`, stop: () => app.close() }
}

function addressesOf(mail: ParsedMail): string[] {
  return recipientsOf(mail).map((recipient) => recipient.Address.toLowerCase())
}

/**
 * A caught mail as `npm run dev` prints it: a header line, the plain-text body on lines of its own, a closing line. A
 * token may end in `-`, so nothing is ever printed against the body's last line: a copied link is the whole link.
 */
export function mailForTerminal(mail: ParsedMail): string {
  const to = addressesOf(mail).join(', ')
  return `\n--- mail to ${to}: ${mail.subject ?? ''}\n${(mail.text ?? '').trimEnd()}\n---\n`
}

/** The link a mail leads to (its plain-text part), and the token it carries. */
export function linkOf(mail: ParsedMail): { url: URL; token: string } {
  const match = /https?:\/\/\S+\?token=[\w-]+/.exec(mail.text ?? '')
  if (!match) throw new Error(`no link in the mail "${mail.subject ?? ''}"`)
  const url = new URL(match[0])
  return { url, token: url.searchParams.get('token')! }
}

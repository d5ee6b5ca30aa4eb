import t from 'tap'
import { mailForTerminal, serveMailpitApi } from '../../src/testing/mail-server.js'
import { registerWithEmail } from '../support/flows.js'
import { build, freePort, linkOf, testMail } from '../support/helper.js'

// What `npm run dev` prints of a caught mail, when no mail server answers at SMTP_URL.

t.test('a mail printed for the terminal keeps its link on a line of its own: copied whole, it is the link', async (t) => {
  const app = await build(t)
  await registerWithEmail(app, 'printed', 'printed@example.test')
  const [mail] = await (await testMail()).waitFor('printed@example.test')
  const printed = mailForTerminal(mail!)
  const { url } = linkOf(mail!)
  t.ok(printed.split('\n').some((line) => line.trim().endsWith(url.href)), 'the link ends its line')
  const copied = printed.split(/\s+/).find((word) => word.startsWith(`${url.origin}${url.pathname}`))
  t.equal(copied, url.href, 'what a double-click copies is the link, nothing glued to it')
  t.match(printed, /^\n--- mail to printed@example\.test: /)
})

t.test("the catcher answers Mailpit's read API: the latest mail, one by its ID, and the list", async (t) => {
  const app = await build(t)
  const catcher = await testMail()
  const api = await serveMailpitApi(catcher, await freePort())
  t.teardown(() => api.stop())
  await registerWithEmail(app, 'mailpit', 'mailpit@example.test')
  const [mail] = await catcher.waitFor('mailpit@example.test')
  const latest = (await (await fetch(`${api.url}/api/v1/message/latest`)).json()) as Record<string, unknown>
  t.match(latest, { To: [{ Address: 'mailpit@example.test' }], Subject: mail!.subject, Text: mail!.text }, 'the latest, with Mailpit\'s field names')
  t.match(String(latest.Text), linkOf(mail!).url.href, 'its text carries the link')
  const byId = (await (await fetch(`${api.url}/api/v1/message/${String(latest.ID)}`)).json()) as Record<string, unknown>
  t.same(byId, latest, 'the same mail by its ID')
  const list = (await (await fetch(`${api.url}/api/v1/messages`)).json()) as { total: number; messages: Array<{ ID: string }> }
  t.equal(list.total, catcher.mails.length)
  t.equal(list.messages[0]?.ID, latest.ID, 'newest first')
  t.equal((await fetch(`${api.url}/api/v1/message/9999`)).status, 404, 'an unknown ID: 404')
})

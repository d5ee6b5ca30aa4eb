import t from 'tap'
import { mailForTerminal } from '../../scripts/mail-server.js'
import { registerWithEmail } from '../support/flows.js'
import { build, linkOf, testMail } from '../support/helper.js'

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

import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { injected } from '../support/client.js'
import { PASSWORD, registerWithEmail } from '../support/flows.js'
import { build, linkOf, testMail } from '../support/helper.js'

// A sign-in from a browser without the account's device cookie mails its owner, once per browser.

const PUBLIC_URL = 'https://id.example.test'
const NEW_SIGN_IN = /A new sign-in/
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'

t.test('a new browser gets a mail, the same browser again none, a token client none', async (t) => {
  const app = await build(t, { PUBLIC_URL, NEW_DEVICE_MAIL: 'true' })
  const via = injected(app)
  const mail = await testMail()
  await registerWithEmail(via, 'nina', 'nina@example.test')
  const [confirm] = await mail.waitFor('nina@example.test', 1, /Confirm your/)
  await via.call('POST', '/auth/email/verify', { body: { token: linkOf(confirm!).token } })

  const signIn = (cookie?: string) => app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { 'content-type': 'application/json', 'user-agent': FIREFOX, ...(cookie && { cookie }) },
    payload: JSON.stringify({ username: 'nina', password: PASSWORD }),
  })
  const first = await signIn()
  t.equal(first.statusCode, 200)
  const [notice] = await mail.waitFor('nina@example.test', 1, NEW_SIGN_IN)
  t.match(notice!.text, /Firefox 133 on Linux/, 'names the browser')
  t.match(notice!.text, /127\.0\.0\.1/, 'and the address')
  t.match(notice!.text, `${PUBLIC_URL}/account`, 'and where to end the session')
  t.notMatch(notice!.text, PASSWORD)

  const device = first.cookies.find((cookie) => cookie.name === 'sid-device')!
  t.equal((await signIn(`sid-device=${device.value}`)).statusCode, 200)
  t.equal((await via.call('POST', '/auth/login', { body: { username: 'nina', password: PASSWORD, transport: 'token' } })).status, 200)
  // Mail leaves through the queue: give a second notice every chance to arrive.
  await sleep(3000)
  t.equal(mail.to('nina@example.test', NEW_SIGN_IN).length, 1, 'one notice: the known browser and the token client got none')
  const logins = await app.securityEvents.page({ types: ['login'] }, 10)
  t.same(logins.map((event) => event.details.newDevice), [undefined, false, true], 'the history says which sign-in came from a new device')
})

t.test('NEW_DEVICE_MAIL=false mails nothing', async (t) => {
  const app = await build(t, { NEW_DEVICE_MAIL: 'false' })
  const via = injected(app)
  const mail = await testMail()
  await registerWithEmail(via, 'omar', 'omar@example.test')
  const [confirm] = await mail.waitFor('omar@example.test', 1, /Confirm your/)
  await via.call('POST', '/auth/email/verify', { body: { token: linkOf(confirm!).token } })
  t.equal((await via.call('POST', '/auth/login', { body: { username: 'omar', password: PASSWORD } })).status, 200)
  await sleep(3000)
  t.equal(mail.to('omar@example.test', NEW_SIGN_IN).length, 0)
})

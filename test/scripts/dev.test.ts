import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startServer } from '../support/app-process.js'
import { freePort, TEST_SECRET, testMail, testPostgres, testRedis } from '../support/helper.js'

// `npm run dev` as a newcomer runs it.

t.test('npm run dev with a malformed URL says which setting in one line, without a stack trace', async (t) => {
  const dev = startServer(t, { REDIS_URL: 'redis://127.0.0.1:abc' }, 'scripts/dev.ts')
  t.equal(await dev.exited, 1)
  t.equal(dev.stderr().trim(), "Invalid configuration: REDIS_URL is not a valid URL (check the host, the port and that a password's special characters are percent-encoded)")
})

t.test('npm run dev creates the project\'s own database when the server answers without it, and says so', async (t) => {
  const postgres = await testPostgres()
  const name = `dev_${randomUUID().slice(0, 8)}`
  const dev = startServer(t, {
    SESSION_SECRET: TEST_SECRET,
    REDIS_URL: (await testRedis()).url,
    DATABASE_URL: postgres.url(name),
    SMTP_URL: (await testMail()).url,
    PORT: String(await freePort()),
    DEV_WEB_PORT: String(await freePort()),
    HOST: '127.0.0.1',
  }, 'scripts/dev.ts')
  for (let i = 0; i < 600 && !dev.stdout().includes('Server listening'); i++) await sleep(50)
  t.match(dev.stdout(), `Created the database "${name}" on 127.0.0.1:${new URL(postgres.url()).port} for this project`)
  t.match(dev.stdout(), 'Server listening', 'the server started on it, migrations applied')
  t.equal((await postgres.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount, 1)
  dev.child.kill('SIGTERM')
  await dev.exited
})

t.test("the README's mail block runs as written under npm run dev, whose catcher answers Mailpit's read API", async (t) => {
  const [port, smtpPort, mailApiPort, webPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const dev = startServer(t, {
    SESSION_SECRET: TEST_SECRET,
    REDIS_URL: (await testRedis()).url,
    REDIS_PREFIX: `readme-${randomUUID().slice(0, 8)}:`,
    DATABASE_URL: (await testPostgres()).url(`dev_${randomUUID().slice(0, 8)}`),
    // Nothing answers here: dev catches the mails itself.
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    DEV_MAIL_API_PORT: String(mailApiPort),
    DEV_WEB_PORT: String(webPort),
    PORT: String(port),
    HOST: '127.0.0.1',
  }, 'scripts/dev.ts')
  t.teardown(async () => {
    dev.child.kill('SIGTERM')
    await dev.exited
  })
  for (let i = 0; i < 600 && !dev.stdout().includes('Server listening'); i++) await sleep(50)
  t.match(dev.stdout(), new RegExp(`Using Redis at 127\\.0\\.0\\.1:\\d+ \\(keys under readme-\\w+:\\) \\(already running: shared with whatever else uses it\\), PostgreSQL at 127\\.0\\.0\\.1:\\d+/dev_\\w+ \\(already running: shared with whatever else uses it\\), mail caught here \\(printed below, and at http://127\\.0\\.0\\.1:${mailApiPort}/api/v1/message/latest\\)`), 'one line says which servers it uses')

  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const block = /A way back in:[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]
  t.ok(block, 'the README has the block')
  const asWritten = block!.replaceAll('localhost:3000', `127.0.0.1:${port}`).replaceAll('localhost:8025', `127.0.0.1:${mailApiPort}`)
  const run = await promisify(execFile)('bash', ['-e', '-c', asWritten], { encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 })
  const statuses = [...run.stdout.matchAll(/HTTP\/1\.1 (\d+)/g)].map((match) => Number(match[1]))
  t.same(statuses, [201, 200, 202, 204], 'registered, verified, reset asked, reset done: each with the token read from the catcher')
  t.match(dev.stdout(), /--- mail to bob@example\.com: /, 'and the mails are printed in the terminal too')

  // The web app in Vite's dev server, its API calls passed on to the service.
  const web = `http://localhost:${webPort}`
  let page = ''
  for (let i = 0; i < 200 && !page.includes('/src/main.tsx'); i++) page = await fetch(web).then((response) => response.text(), () => sleep(100).then(() => ''))
  t.match(page, '<script type="module" src="/src/main.tsx">', `the app, live, at ${web}`)
  const me = await fetch(`${web}/auth/me`)
  t.equal(me.status, 401, 'an API call through it reaches the service')
  t.equal(((await me.json()) as { code: string }).code, 'UNAUTHENTICATED')
})

import { randomUUID } from 'node:crypto'
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
    HOST: '127.0.0.1',
  }, 'scripts/dev.ts')
  for (let i = 0; i < 600 && !dev.stdout().includes('Server listening'); i++) await sleep(50)
  t.match(dev.stdout(), `Created the database "${name}" on 127.0.0.1:${new URL(postgres.url()).port} for this project`)
  t.match(dev.stdout(), 'Server listening', 'the server started on it, migrations applied')
  t.equal((await postgres.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount, 1)
  dev.child.kill('SIGTERM')
  await dev.exited
})

import t from 'tap'
import { startServer } from '../support/app-process.js'

// `npm run dev` as a newcomer runs it.

t.test('npm run dev with a malformed URL says which setting in one line, without a stack trace', async (t) => {
  const dev = startServer(t, { REDIS_URL: 'redis://127.0.0.1:abc' }, 'scripts/dev.ts')
  t.equal(await dev.exited, 1)
  t.equal(dev.stderr().trim(), "Invalid configuration: REDIS_URL is not a valid URL (check the host, the port and that a password's special characters are percent-encoded)")
})

import t from 'tap'
import { expiryAfter, pastAbsoluteLimit, slidExpiry, type SessionTimeouts } from '../../src/lib/session-timeouts.js'

const timeouts: SessionTimeouts = {
  standard: { idleMs: 1000, absoluteMs: 5000 },
  remember: { idleMs: 3000, absoluteMs: 9000 },
  touchIntervalMs: 100,
}
const created = { createdAt: 10_000 }

t.test('a session ends one idle period after it was seen, never past creation + absolute', async (t) => {
  t.equal(expiryAfter(timeouts, created, 10_000), 11_000)
  t.equal(expiryAfter(timeouts, created, 14_500), 15_000, 'capped by the absolute limit')
  t.equal(expiryAfter(timeouts, { ...created, remember: true }, 12_000), 15_000, 'remembered: the longer idle period')
  t.equal(expiryAfter(timeouts, { ...created, remember: true }, 18_000), 19_000, 'and the longer absolute limit')
})

t.test('the absolute limit is checked on the stored creation time', async (t) => {
  t.notOk(pastAbsoluteLimit(timeouts, created, 14_999))
  t.ok(pastAbsoluteLimit(timeouts, created, 15_000))
  t.notOk(pastAbsoluteLimit(timeouts, { ...created, remember: true }, 15_000))
  t.notOk(pastAbsoluteLimit(timeouts, {}, Number.MAX_SAFE_INTEGER), 'nothing to check without a creation time')
})

t.test('sliding is due once per touch interval, and only while it moves the expiry', async (t) => {
  // Last touched (or created) at 10_000: expires at 11_000.
  t.equal(slidExpiry(timeouts, created, 11_000, 10_099), null, 'within the touch interval: no write')
  t.equal(slidExpiry(timeouts, created, 11_000, 10_100), 11_100, 'after it: slide to one idle period from now')
  t.equal(slidExpiry(timeouts, created, 15_000, 14_990), null, 'capped at the absolute limit: nothing left to slide')
  t.equal(slidExpiry(timeouts, created, 14_950, 14_900), 15_000, 'the last slide before the cap may be short')
})

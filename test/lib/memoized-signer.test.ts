import { Signer } from '@fastify/cookie'
import t from 'tap'
import { memoizedSigner } from '../../src/lib/memoized-signer.js'
import { TEST_SECRET } from '../support/helper.js'

const OLD_SECRET = 'an-older-secret-that-still-verifies-cookies'

t.test('answers exactly what the plain signer answers', async (t) => {
  const memoized = memoizedSigner([TEST_SECRET, OLD_SECRET], 10)
  const plain = new Signer([TEST_SECRET, OLD_SECRET])
  const fromOldSecret = new Signer(OLD_SECRET).sign('old-session')
  for (const input of [plain.sign('abc'), `${plain.sign('abc')}x`, 'unsigned', fromOldSecret, '', '.']) {
    for (let round = 0; round < 2; round++) t.same(memoized.unsign(input), plain.unsign(input), `${input} (round ${round})`)
  }
  t.equal(memoized.sign('abc'), plain.sign('abc'))
  t.equal(memoized.sign('abc'), plain.sign('abc'), 'again, from memory')
})

t.test('never remembers a forged signature as valid, however often it is tried', async (t) => {
  const memoized = memoizedSigner([TEST_SECRET], 2)
  const forged = `${new Signer('an-attacker-secret-of-32-characters!!').sign('id')}`
  for (let i = 0; i < 5; i++) t.equal(memoized.unsign(forged).valid, false)
})

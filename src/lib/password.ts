import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { availableParallelism } from 'node:os'
import pLimit from 'p-limit'
import { PasswordChecksBusy } from '../errors.js'

/**
 * scrypt with N=2^17, r=8, p=1 (OWASP Password Storage Cheat Sheet's minimum for scrypt): 128 MiB and about a quarter
 * of a second per hash on one core, run on libuv's thread pool so the event loop stays free. The parameters are stored
 * with each hash: a hash under a lower cost still verifies, and is stored again under this one at its next login
 * (needsRehash), so the cost can be raised without a migration. PASSWORD_HASH_COST sets N (config.ts).
 */
export interface ScryptCost {
  costLog2: number
  blockSize: number
  parallelism: number
}
/** OWASP's minimum N for scrypt with r=8, p=1, as log2. */
export const OWASP_SCRYPT_COST_LOG2 = 17
export const DEFAULT_SCRYPT_COST: ScryptCost = { costLog2: OWASP_SCRYPT_COST_LOG2, blockSize: 8, parallelism: 1 }
const NODE_DEFAULT_SCRYPT_MAXMEM = 32 * 1024 * 1024
const KEY_LENGTH = 32
const SALT_LENGTH = 16
const SCHEME = 'scrypt'

/**
 * Key derivations run on the thread pool, but each one still takes a CPU core. Leaving one core to the event loop
 * keeps a login storm from slowing every other request down; logins wait their turn instead.
 */
const DERIVATION_SLOTS = Math.max(1, availableParallelism() - 1)
const derivationSlots = pLimit(DERIVATION_SLOTS)

/**
 * The longest a derivation may be expected to wait for a slot. The queue is bounded by it: beyond it a request is
 * refused at once (503 OVERLOADED with Retry-After) instead of making every login, the owner's included, wait behind
 * a flood of guesses at unknown names (which no per-account lock slows down).
 */
export const MAX_QUEUE_WAIT_MS = 5000
/** What a derivation is assumed to take until one has been timed. */
const FIRST_ESTIMATE_MS = 250
let derivationMs = FIRST_ESTIMATE_MS

/** How long a derivation queued now would wait for a slot, from the recent derivations' time. */
function expectedWaitMs(): number {
  return Math.ceil(derivationSlots.pendingCount / DERIVATION_SLOTS) * derivationMs
}

/**
 * Derives a key in its turn. Refused at once when the queue is full, and refused without deriving when its turn
 * comes after `startBy` (epoch ms): whoever asked for it (an attempt the account lock admitted until a deadline) has
 * given up on it, and a check judged after that deadline would be one the lock no longer counts.
 */
function deriveKey(password: string, salt: Buffer, options: ScryptOptions, keyLength: number, startBy = Infinity): Promise<Buffer> {
  const wait = expectedWaitMs()
  if (wait > MAX_QUEUE_WAIT_MS) return Promise.reject(new PasswordChecksBusy(Math.ceil(wait / 1000)))
  return derivationSlots(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        const started = Date.now()
        if (started > startBy) return reject(new PasswordChecksBusy(Math.ceil(expectedWaitMs() / 1000) || 1))
        scrypt(password, salt, keyLength, options, (error, key) => {
          // A moving average: the queue's bound follows the machine and the cost of the hashes it checks.
          derivationMs = 0.8 * derivationMs + 0.2 * (Date.now() - started)
          return error ? reject(error) : resolve(key)
        })
      }),
  )
}

function scryptOptions(costLog2: number, blockSize: number, parallelism: number): ScryptOptions {
  const N = 2 ** costLog2
  // Node refuses scrypt above 32 MiB unless maxmem says otherwise; allow twice what the parameters need.
  return { N, r: blockSize, p: parallelism, maxmem: Math.max(NODE_DEFAULT_SCRYPT_MAXMEM, 256 * N * blockSize * parallelism) }
}

/** Returns `scrypt$<log2 N>$<r>$<p>$<salt>$<key>` with base64url salt and key. */
export async function hashPassword(password: string, cost = DEFAULT_SCRYPT_COST): Promise<string> {
  const { costLog2, blockSize, parallelism } = cost
  const salt = randomBytes(SALT_LENGTH)
  const key = await deriveKey(password, salt, scryptOptions(costLog2, blockSize, parallelism), KEY_LENGTH)
  return [SCHEME, costLog2, blockSize, parallelism, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/**
 * Constant-time comparison of a password with a stored hash; false for a malformed hash. Throws PasswordChecksBusy
 * when the queue is full, or when the derivation could not start by `startBy`.
 */
export async function verifyPassword(password: string, stored: string, startBy?: number): Promise<boolean> {
  const [scheme, costLog2, blockSize, parallelism, salt, key] = stored.split('$')
  if (scheme !== SCHEME || !costLog2 || !blockSize || !parallelism || !salt || !key) return false
  const expected = Buffer.from(key, 'base64url')
  const options = scryptOptions(Number(costLog2), Number(blockSize), Number(parallelism))
  const actual = await deriveKey(password, Buffer.from(salt, 'base64url'), options, expected.length, startBy)
  return timingSafeEqual(actual, expected)
}

/** Whether a stored hash is weaker than what hashPassword makes now (then a login stores it again). */
export function needsRehash(stored: string, cost = DEFAULT_SCRYPT_COST): boolean {
  const [scheme, costLog2, blockSize, parallelism] = stored.split('$')
  return scheme !== SCHEME || Number(costLog2) < cost.costLog2 || Number(blockSize) < cost.blockSize || Number(parallelism) < cost.parallelism
}

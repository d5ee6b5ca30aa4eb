import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { availableParallelism } from 'node:os'
import pLimit from 'p-limit'

/**
 * scrypt with N=2^15, r=8, p=1: about 32 MiB and tens of milliseconds per hash, run on libuv's thread pool so the
 * event loop stays free. The parameters are stored with each hash, so they can be raised later without a migration.
 */
export interface ScryptCost {
  costLog2: number
  blockSize: number
  parallelism: number
}
export const DEFAULT_SCRYPT_COST: ScryptCost = { costLog2: 15, blockSize: 8, parallelism: 1 }
const NODE_DEFAULT_SCRYPT_MAXMEM = 32 * 1024 * 1024
const KEY_LENGTH = 32
const SALT_LENGTH = 16
const SCHEME = 'scrypt'

/**
 * Key derivations run on the thread pool, but each one still takes a CPU core. Leaving one core to the event loop
 * keeps a login storm from slowing every other request down; logins wait their turn instead.
 */
const derivationSlots = pLimit(Math.max(1, availableParallelism() - 1))

function deriveKey(password: string, salt: Buffer, options: ScryptOptions, keyLength: number): Promise<Buffer> {
  return derivationSlots(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        scrypt(password, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)))
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

/** Constant-time comparison of a password with a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, costLog2, blockSize, parallelism, salt, key] = stored.split('$')
  if (scheme !== SCHEME || !costLog2 || !blockSize || !parallelism || !salt || !key) return false
  const expected = Buffer.from(key, 'base64url')
  const options = scryptOptions(Number(costLog2), Number(blockSize), Number(parallelism))
  const actual = await deriveKey(password, Buffer.from(salt, 'base64url'), options, expected.length)
  return timingSafeEqual(actual, expected)
}

import { createHmac } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

// RFC 6238 written out in the test, independently of the service's library: HMAC-SHA-1 over the 8-byte step
// counter, dynamic truncation (RFC 4226 §5.3), 6 digits, 30-second steps.

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
export const PERIOD_SECONDS = 30

function base32Decode(text: string): Buffer {
  let bits = ''
  for (const character of text.replace(/=+$/, '').toUpperCase()) bits += BASE32.indexOf(character).toString(2).padStart(5, '0')
  const bytes = bits.match(/.{8}/g) ?? []
  return Buffer.from(bytes.map((byte) => parseInt(byte, 2)))
}

/** The code of `step` for a base32 secret. */
export function totpCode(secret: string, step: number, digits = 6): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits
  return String(binary).padStart(digits, '0')
}

export const stepAt = (ms: number) => Math.floor(ms / 1000 / PERIOD_SECONDS)

/**
 * The current step, at least `marginSeconds` before it ends: steps s-1, s and s+1 are then all accepted by the
 * service (one step of drift either way) for that long.
 */
export async function steadyStep(marginSeconds = 8): Promise<number> {
  const intoStep = (Date.now() / 1000) % PERIOD_SECONDS
  if (PERIOD_SECONDS - intoStep < marginSeconds) await sleep((PERIOD_SECONDS - intoStep) * 1000 + 50)
  return stepAt(Date.now())
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * Encryption at rest for the few secrets the server must read back (TOTP seeds): AES-256-GCM under keys derived with
 * HKDF-SHA-256 from SESSION_SECRET, one key per purpose. A Redis dump, a replica or a backup then holds no seed that
 * could generate codes. The first secret seals; every one opens, so rotating SESSION_SECRET the usual way (new one
 * first, old ones kept for a while) keeps sealed values readable, and `sealedWithCurrentKey` says when to re-seal.
 */
export interface SecretBox {
  seal(plaintext: string): string
  /** The plaintext, or null when no key opens it (tampered, or sealed under a secret no longer configured). */
  open(sealed: string): { plaintext: string; sealedWithCurrentKey: boolean } | null
}

const FORMAT = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

export function secretBox(secrets: string[], purpose: string): SecretBox {
  const keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `redis-session-api ${purpose}`, 32)))

  function openWith(key: Buffer, iv: Buffer, sealed: Buffer): string | null {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv)
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }

  return {
    seal(plaintext) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', keys[0]!, iv)
      const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return [FORMAT, iv.toString('base64url'), sealed.toString('base64url')].join('.')
    },
    open(text) {
      const [format, iv, sealed] = text.split('.')
      if (format !== FORMAT || iv === undefined || sealed === undefined) return null
      for (const [index, key] of keys.entries()) {
        const plaintext = openWith(key, Buffer.from(iv, 'base64url'), Buffer.from(sealed, 'base64url'))
        if (plaintext !== null) return { plaintext, sealedWithCurrentKey: index === 0 }
      }
      return null
    },
  }
}

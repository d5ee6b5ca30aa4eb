import { hash, randomInt } from 'node:crypto'

/**
 * Recovery codes: single-use lookup secrets for a user who lost their authenticator. Each has 120 random bits, so a
 * plain SHA-256 is enough to store it (ASVS 5.0 §6.5.2: at least 112 bits of entropy need no password hash), and a
 * code is checked by a lookup of its hash, never by trying every stored one.
 * Shown as four groups of six characters from an alphabet without look-alikes (RFC 4648 base32, lower case):
 * `k3m7qa-...`. Typed back in any case, with or without the dashes or spaces.
 */
export const RECOVERY_CODE_COUNT = 10
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const GROUPS = 4
const GROUP_LENGTH = 6

function newRecoveryCode(): string {
  const groups = Array.from({ length: GROUPS }, () => Array.from({ length: GROUP_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''))
  return groups.join('-')
}

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
}

/** The code as generated, from what a user may type: upper or lower case, dashes or spaces anywhere. */
export function normalizeRecoveryCode(typed: string): string | null {
  const characters = typed.toLowerCase().replace(/[\s-]/g, '')
  if (characters.length !== GROUPS * GROUP_LENGTH || [...characters].some((c) => !ALPHABET.includes(c))) return null
  return characters
}

/** What Redis keeps of a code: the SHA-256 of its characters (dashes left out). */
export function recoveryCodeHash(normalized: string): string {
  return hash('sha256', normalized, 'base64url')
}

/** The hashes to store for freshly generated codes. */
export function recoveryCodeHashes(codes: string[]): string[] {
  return codes.map((code) => recoveryCodeHash(normalizeRecoveryCode(code)!))
}

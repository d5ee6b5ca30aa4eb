import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { sql } from 'kysely'
import type { Database } from '../platform/database/connection.js'
import { secretBox } from '../lib/secret-box.js'

/** The one algorithm our access tokens are signed with, pinned on both ends (RFC 8725 §3.1). */
export const SIGNING_ALGORITHM = 'EdDSA'

// Any number will do, as long as nothing else in the database takes the same advisory lock.
const KEY_ROTATION_LOCK = 7_340_226_981

/** When keys are made, start signing and are dropped. */
export interface KeySchedule {
  /** How long a key signs before the next one takes over (JWT_KEY_ROTATION). */
  rotationMs: number
  /**
   * How long a new key is published before it signs: longer than a JWKS cache keeps a set (twice JWKS_MAX_AGE), so
   * that a verifier never meets a token whose key it has not fetched yet.
   */
  publishLeadMs: number
  /** How long a key stays published once its successor signs: every token it signed has expired by then. */
  keepAfterMs: number
}

/** An Ed25519 public key as JWKS publishes it. */
export interface PublicJwk {
  kty: string
  crv: string
  x: string
  kid: string
  alg: string
  use: string
}

export interface SigningKey {
  kid: string
  /** The public half, as JWKS publishes it. */
  publicJwk: PublicJwk
  /** The private half; null when no configured SESSION_SECRET opens it (it is then published, never used). */
  privateKey: CryptoKey | null
  createdAt: number
}

interface KeyRow {
  kid: string
  publicJwk: Record<string, unknown>
  sealedPrivateJwk: string
  createdAt: Date
}

/** When a key starts signing: once published long enough, or at once when it was the first key there ever was. */
const signsFrom = (key: { createdAt: number }, index: number, schedule: KeySchedule) => (index === 0 ? key.createdAt : key.createdAt + schedule.publishLeadMs)

/** When the key at `index` (keys oldest first) may be dropped: its successor has signed for keepAfterMs. */
function droppableAt(keys: { createdAt: number }[], index: number, schedule: KeySchedule): number {
  const successor = keys[index + 1]
  return successor === undefined ? Infinity : signsFrom(successor, index + 1, schedule) + schedule.keepAfterMs
}

/**
 * The signing keys, shared by every instance through PostgreSQL (the table signing_keys, migration 0006), the private
 * halves sealed under SESSION_SECRET (lib/secret-box.ts). Concurrency: `rotate` runs under one advisory lock in one
 * transaction, so instances that find a key due at the same moment make one key between them; each instance reloads
 * the keys often enough (see tokens/plugin.ts) to know a new key before it signs.
 */
export interface SigningKeys {
  /** Makes the next key if one is due, drops the keys no token can need, and returns the keys, oldest first. */
  rotate(now: number): Promise<SigningKey[]>
}

export function signingKeyStore(db: Database, secrets: string[], schedule: KeySchedule): SigningKeys {
  const box = secretBox(secrets, 'jwt signing key')

  async function toKey(row: KeyRow): Promise<SigningKey> {
    const opened = box.open(row.sealedPrivateJwk)
    const privateKey = opened === null ? null : ((await importJWK(JSON.parse(opened.plaintext) as JWK, SIGNING_ALGORITHM)) as CryptoKey)
    return { kid: row.kid, publicJwk: row.publicJwk as unknown as PublicJwk, privateKey, createdAt: row.createdAt.getTime() }
  }

  async function newKeyRow(): Promise<Omit<KeyRow, 'createdAt'>> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: 'Ed25519', extractable: true })
    const publicJwk = await exportJWK(publicKey)
    const kid = await calculateJwkThumbprint(publicJwk)
    return { kid, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' }, sealedPrivateJwk: box.seal(JSON.stringify(await exportJWK(privateKey))) }
  }

  return {
    async rotate(now) {
      const rows = await db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${KEY_ROTATION_LOCK})`.execute(trx)
        let rows: KeyRow[] = await trx.selectFrom('signingKeys').selectAll().orderBy('createdAt').orderBy('kid').execute()
        const timed = rows.map((row) => ({ createdAt: row.createdAt.getTime() }))
        const dropped = rows.filter((_, i) => droppableAt(timed, i, schedule) <= now).map((row) => row.kid)
        if (dropped.length > 0) await trx.deleteFrom('signingKeys').where('kid', 'in', dropped).execute()
        rows = rows.filter((row) => !dropped.includes(row.kid))
        const newest = rows.at(-1)
        // The next key is made a lead ahead of its turn, so that it is published before it signs. A newest key that no
        // configured secret opens cannot sign: a new one is made at once.
        const dueAt = newest === undefined ? -Infinity : newest.createdAt.getTime() + schedule.rotationMs - schedule.publishLeadMs
        const due = newest === undefined || dueAt <= now || box.open(newest.sealedPrivateJwk) === null
        if (due) rows.push(await trx.insertInto('signingKeys').values(await newKeyRow()).returningAll().executeTakeFirstOrThrow())
        return rows
      })
      return Promise.all(rows.map(toKey))
    },
  }
}

/** The key to sign with now: the newest that has started signing and that this instance can open. */
export function currentSigningKey(keys: SigningKey[], schedule: KeySchedule, now: number): SigningKey & { privateKey: CryptoKey } {
  const usable = keys.map((key, index) => ({ key, from: signsFrom(key, index, schedule) })).filter(({ key, from }) => from <= now && key.privateKey !== null)
  const newest = usable.at(-1)?.key ?? keys.findLast((key) => key.privateKey !== null)
  if (newest?.privateKey == null) throw new Error('no signing key can be opened with the configured SESSION_SECRET')
  return newest as SigningKey & { privateKey: CryptoKey }
}

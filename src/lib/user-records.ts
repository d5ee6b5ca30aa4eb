import type { Result } from 'ioredis'
import { defineScripts, type RedisClient } from './redis-client.js'
import type { User } from '../schemas/user.js'

/**
 * Users as Redis holds them (this module owns the user key and its scripts): one hash per user, under the lower-cased name (see keys.ts), with the fields
 * id, username, passwordHash, roles, createdAt, loginEpoch; a second factor adds totpSecret, totpEnabledAt,
 * totpLastStep and one `recovery:<hash>` field per unused recovery code.
 *
 * Concurrency rules. Every write below is one single-key script (atomic, on a Cluster too) that first checks the
 * hash still belongs to the user id the caller read, so a write never lands on another account:
 * - `loginEpoch` goes up with every change that must shut out the logins in flight: a change of what a login must
 *   prove (password, second factor on or off; in the same script as the change) and the end of every session (logout
 *   everywhere, ending all others, an admin's end). A login notes it when it checks the password and compares it
 *   again once its session exists: a login that raced with such a change either was listed before the change ended
 *   every session, or sees the new epoch and ends its own.
 * - A TOTP step is accepted only if it is later than the last accepted one (kept in totpLastStep): a code can be
 *   used once, and two requests with the same code cannot both pass.
 * - A recovery code is spent by deleting its field: of two concurrent uses, only the one whose HDEL found it passes.
 */

export interface MfaState {
  /** The TOTP secret as stored: sealed (see secret-box.ts). */
  secret: string
  enabledAt: number
  recoveryCodesLeft: number
}

export interface Account {
  user: User
  passwordHash: string
  /** See loginEpoch above. */
  loginEpoch: number
  /** null: the password alone logs in. */
  mfa: MfaState | null
}

const RECOVERY_FIELD_PREFIX = 'recovery:'

// Claims the username and writes the user in one step, so two registrations of one name cannot both succeed.
// ARGV: id, username, password hash, roles (comma-separated), created at.
const CREATE_USER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'username', ARGV[2], 'passwordHash', ARGV[3], 'roles', ARGV[4], 'createdAt', ARGV[5])
return 1
`

// ARGV: user id, new password hash.
const SET_PASSWORD_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'passwordHash', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'loginEpoch', 1)
return 1
`

// ARGV: user id.
const RAISE_LOGIN_EPOCH_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'loginEpoch', 1)
return 1
`

// Clears every recovery code of the hash at KEYS[1].
const CLEAR_RECOVERY_CODES = `
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, ${RECOVERY_FIELD_PREFIX.length}) == '${RECOVERY_FIELD_PREFIX}' then redis.call('HDEL', KEYS[1], field) end
end
`

// ARGV: user id, secret, first accepted step, enabled at, then the recovery code hashes. 0 when already on.
const ENABLE_TOTP_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[1], 'totpSecret') == 1 then return 0 end
${CLEAR_RECOVERY_CODES}
redis.call('HSET', KEYS[1], 'totpSecret', ARGV[2], 'totpLastStep', ARGV[3], 'totpEnabledAt', ARGV[4])
for i = 5, #ARGV do redis.call('HSET', KEYS[1], '${RECOVERY_FIELD_PREFIX}' .. ARGV[i], '1') end
redis.call('HINCRBY', KEYS[1], 'loginEpoch', 1)
return 1
`

// ARGV: user id. 0 when it was off.
const DISABLE_TOTP_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
if redis.call('HDEL', KEYS[1], 'totpSecret', 'totpLastStep', 'totpEnabledAt') == 0 then return 0 end
${CLEAR_RECOVERY_CODES}
redis.call('HINCRBY', KEYS[1], 'loginEpoch', 1)
return 1
`

// ARGV: user id, the secret the code was checked against (as stored), its step, and the secret sealed anew under the
// current key, or '' to leave it. 1 when the step is accepted.
const USE_TOTP_STEP_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'totpSecret') ~= ARGV[2] then return 0 end
if tonumber(ARGV[3]) <= tonumber(redis.call('HGET', KEYS[1], 'totpLastStep') or '-1') then return 0 end
redis.call('HSET', KEYS[1], 'totpLastStep', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'totpSecret', ARGV[4]) end
return 1
`

// ARGV: user id, the code's hash. The codes left, or -1 when there is no such unused code.
const USE_RECOVERY_CODE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 'totpSecret') == 0 then return -1 end
if redis.call('HDEL', KEYS[1], '${RECOVERY_FIELD_PREFIX}' .. ARGV[2]) == 0 then return -1 end
local left = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, ${RECOVERY_FIELD_PREFIX.length}) == '${RECOVERY_FIELD_PREFIX}' then left = left + 1 end
end
return left
`

// ARGV: user id, the secret that must still be on, then the new code hashes. 0 when it is not.
const REPLACE_RECOVERY_CODES_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'totpSecret') ~= ARGV[2] then return 0 end
${CLEAR_RECOVERY_CODES}
for i = 3, #ARGV do redis.call('HSET', KEYS[1], '${RECOVERY_FIELD_PREFIX}' .. ARGV[i], '1') end
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    createUser(key: string, id: string, username: string, passwordHash: string, roles: string, createdAt: string): Result<number, Context>
    setUserPassword(key: string, userId: string, passwordHash: string): Result<number, Context>
    raiseUserLoginEpoch(key: string, userId: string): Result<number, Context>
    enableUserTotp(key: string, userId: string, secret: string, step: number, enabledAt: number, ...codeHashes: string[]): Result<number, Context>
    disableUserTotp(key: string, userId: string): Result<number, Context>
    useUserTotpStep(key: string, userId: string, secret: string, step: number, resealed: string): Result<number, Context>
    useUserRecoveryCode(key: string, userId: string, codeHash: string): Result<number, Context>
    replaceUserRecoveryCodes(key: string, userId: string, secret: string, ...codeHashes: string[]): Result<number, Context>
  }
}

export function toUser(stored: Record<string, string>): User | null {
  const { id, username, roles, createdAt } = stored
  if (!id || !username || roles === undefined || !createdAt) return null
  return { id, username, roles: roles.split(',').filter(Boolean), createdAt }
}

function toMfaState(stored: Record<string, string>): MfaState | null {
  const { totpSecret, totpEnabledAt } = stored
  if (totpSecret === undefined) return null
  const recoveryCodesLeft = Object.keys(stored).filter((field) => field.startsWith(RECOVERY_FIELD_PREFIX)).length
  return { secret: totpSecret, enabledAt: Number(totpEnabledAt), recoveryCodesLeft }
}

export function toAccount(stored: Record<string, string>): Account | null {
  const user = toUser(stored)
  if (!user || stored.passwordHash === undefined) return null
  return { user, passwordHash: stored.passwordHash, loginEpoch: Number(stored.loginEpoch ?? 0), mfa: toMfaState(stored) }
}

export interface UserRecords {
  /** Writes a new user with its password hash; false when the name is taken (in any letter case). */
  create(key: string, user: User, passwordHash: string): Promise<boolean>
  read(key: string): Promise<Account | null>
  loginEpoch(key: string): Promise<number>
  /** Each write below is false when the hash no longer belongs to `userId` (or the state it needs is gone). */
  setPassword(key: string, userId: string, passwordHash: string): Promise<boolean>
  raiseLoginEpoch(key: string, userId: string): Promise<boolean>
  /** Turns TOTP on with its first accepted step and recovery codes; false when it is on already. */
  enableTotp(key: string, userId: string, secret: string, step: number, codeHashes: string[]): Promise<boolean>
  /** Turns TOTP off and drops the recovery codes; false when it was off. */
  disableTotp(key: string, userId: string): Promise<boolean>
  /**
   * Accepts a TOTP step of `secret` (as stored) if it is later than every step accepted before; stores `resealed` in
   * its place when given (the same secret sealed under the current key).
   */
  useTotpStep(key: string, userId: string, secret: string, step: number, resealed: string | null): Promise<boolean>
  /** Spends a recovery code: the codes left, or null when there was no such unused code. */
  useRecoveryCode(key: string, userId: string, codeHash: string): Promise<number | null>
  /** New recovery codes in place of the old, while `secret` is still the one on. */
  replaceRecoveryCodes(key: string, userId: string, secret: string, codeHashes: string[]): Promise<boolean>
}

export function userRecords(redis: RedisClient): UserRecords {
  defineScripts(redis, {
    createUser: { numberOfKeys: 1, lua: CREATE_USER_SCRIPT },
    setUserPassword: { numberOfKeys: 1, lua: SET_PASSWORD_SCRIPT },
    raiseUserLoginEpoch: { numberOfKeys: 1, lua: RAISE_LOGIN_EPOCH_SCRIPT },
    enableUserTotp: { numberOfKeys: 1, lua: ENABLE_TOTP_SCRIPT },
    disableUserTotp: { numberOfKeys: 1, lua: DISABLE_TOTP_SCRIPT },
    useUserTotpStep: { numberOfKeys: 1, lua: USE_TOTP_STEP_SCRIPT },
    useUserRecoveryCode: { numberOfKeys: 1, lua: USE_RECOVERY_CODE_SCRIPT },
    replaceUserRecoveryCodes: { numberOfKeys: 1, lua: REPLACE_RECOVERY_CODES_SCRIPT },
  })
  return {
    async create(key, { id, username, roles, createdAt }, passwordHash) {
      return (await redis.createUser(key, id, username, passwordHash, roles.join(','), createdAt)) === 1
    },
    async read(key) {
      return toAccount(await redis.hgetall(key))
    },
    async loginEpoch(key) {
      return Number((await redis.hget(key, 'loginEpoch')) ?? 0)
    },
    async setPassword(key, userId, passwordHash) {
      return (await redis.setUserPassword(key, userId, passwordHash)) === 1
    },
    async raiseLoginEpoch(key, userId) {
      return (await redis.raiseUserLoginEpoch(key, userId)) === 1
    },
    async enableTotp(key, userId, secret, step, codeHashes) {
      return (await redis.enableUserTotp(key, userId, secret, step, Date.now(), ...codeHashes)) === 1
    },
    async disableTotp(key, userId) {
      return (await redis.disableUserTotp(key, userId)) === 1
    },
    async useTotpStep(key, userId, secret, step, resealed) {
      return (await redis.useUserTotpStep(key, userId, secret, step, resealed ?? '')) === 1
    },
    async useRecoveryCode(key, userId, codeHash) {
      const left = await redis.useUserRecoveryCode(key, userId, codeHash)
      return left < 0 ? null : left
    },
    async replaceRecoveryCodes(key, userId, secret, codeHashes) {
      return (await redis.replaceUserRecoveryCodes(key, userId, secret, ...codeHashes)) === 1
    },
  }
}

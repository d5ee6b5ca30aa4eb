import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { RedisClient } from './redis.js'
import { UsernameTaken } from '../errors.js'
import { redisKeys, type RedisKeys } from '../lib/keys.js'
import { hashPassword, verifyPassword } from '../lib/password.js'
import { userRecords, type Account } from '../lib/user-records.js'
import type { User } from '../schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
  }
}

export type { Account } from '../lib/user-records.js'

export const DEFAULT_ROLES = ['user']
export const ADMIN_ROLES = ['admin', 'user']

export interface NewUser {
  username: string
  password: string
  roles: string[]
}

export interface Users {
  /** Throws UsernameTaken when the name exists in any letter case. */
  create(newUser: NewUser): Promise<User>
  findByUsername(username: string): Promise<User | null>
  /** The user with their credentials (second factor included), or null. */
  findAccount(username: string): Promise<Account | null>
  /** False when the name no longer belongs to the user `userId`. Ends logins in flight (see user-records.ts). */
  setPassword(user: Pick<User, 'id' | 'username'>, password: string): Promise<boolean>
  /** The account when the password matches; costs one key derivation whether or not the user exists. */
  authenticate(username: string, password: string): Promise<Account | null>
  /** The user's login epoch moved since `epoch` was read: a login started before then is void (see user-records.ts). */
  loginEpochMovedSince(username: string, epoch: number): Promise<boolean>
  /** Voids the user's logins in flight: call it before ending every session of theirs (see user-records.ts). */
  voidLoginsInFlight(user: Pick<User, 'id' | 'username'>): Promise<void>
}

// Claims the username and writes the user in one step, so two registrations of one name cannot both succeed.
// One key, so it runs unchanged on a Redis Cluster.
const CREATE_USER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'username', ARGV[2], 'passwordHash', ARGV[3], 'roles', ARGV[4], 'createdAt', ARGV[5])
return 1
`

export function createUsers(redis: RedisClient, keys: RedisKeys): Users {
  // Hashed once: verifying an unknown username against it costs what a wrong password costs.
  const decoyHash = hashPassword(randomUUID())
  const records = userRecords(redis)
  const findAccount = (username: string) => records.read(keys.user(username))

  return {
    findAccount,

    async create({ username, password, roles }) {
      const user: User = { id: randomUUID(), username, roles, createdAt: new Date().toISOString() }
      const passwordHash = await hashPassword(password)
      const created = await redis.eval(
        CREATE_USER_SCRIPT,
        1,
        keys.user(username),
        user.id,
        username,
        passwordHash,
        roles.join(','),
        user.createdAt,
      )
      if (created !== 1) throw new UsernameTaken()
      return user
    },

    async findByUsername(username) {
      return (await findAccount(username))?.user ?? null
    },

    async setPassword({ id, username }, password) {
      return records.setPassword(keys.user(username), id, await hashPassword(password))
    },

    async authenticate(username, password) {
      const account = await findAccount(username)
      const matches = await verifyPassword(password, account?.passwordHash ?? (await decoyHash))
      return matches ? account : null
    },

    async loginEpochMovedSince(username, epoch) {
      return (await records.loginEpoch(keys.user(username))) !== epoch
    },

    async voidLoginsInFlight({ id, username }) {
      await records.raiseLoginEpoch(keys.user(username), id)
    },
  }
}

export interface UsersPluginOptions {
  keyPrefix: string
  /** Created once at start, with admin roles, when set. */
  admin: { username: string; password: string } | null
}

export default fp<UsersPluginOptions>(
  async function usersPlugin(app, { keyPrefix, admin }) {
    const users = createUsers(app.redis, redisKeys(keyPrefix))
    app.decorate('users', users)
    if (admin) {
      try {
        await users.create({ ...admin, roles: ADMIN_ROLES })
        app.log.info({ username: admin.username }, 'admin user created')
      } catch (error) {
        if (!(error instanceof UsernameTaken)) throw error
      }
    }
  },
  { name: 'users', dependencies: ['redis'] },
)

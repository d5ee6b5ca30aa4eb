import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { RedisClient } from './redis.js'
import { UsernameTaken } from '../errors.js'
import { redisKeys, type RedisKeys } from '../lib/keys.js'
import { hashPassword, verifyPassword } from '../lib/password.js'
import type { User } from '../schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
  }
}

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
  setPassword(username: string, password: string): Promise<void>
  /** The user when the password matches; costs one key derivation whether or not the user exists. */
  authenticate(username: string, password: string): Promise<User | null>
}

// Claims the username and writes the user in one step, so two registrations of one name cannot both succeed.
// One key, so it runs unchanged on a Redis Cluster.
const CREATE_USER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'username', ARGV[2], 'passwordHash', ARGV[3], 'roles', ARGV[4], 'createdAt', ARGV[5])
return 1
`

type StoredUser = Record<string, string>

function toUser(stored: StoredUser): User | null {
  const { id, username, roles, createdAt } = stored
  if (!id || !username || roles === undefined || !createdAt) return null
  return { id, username, roles: roles.split(',').filter(Boolean), createdAt }
}

export function createUsers(redis: RedisClient, keys: RedisKeys): Users {
  // Hashed once: verifying an unknown username against it costs what a wrong password costs.
  const decoyHash = hashPassword(randomUUID())

  async function readStored(username: string): Promise<StoredUser | null> {
    const stored = await redis.hgetall(keys.user(username))
    return Object.keys(stored).length > 0 ? stored : null
  }

  return {
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
      const stored = await readStored(username)
      return stored && toUser(stored)
    },

    async setPassword(username, password) {
      await redis.hset(keys.user(username), 'passwordHash', await hashPassword(password))
    },

    async authenticate(username, password) {
      const stored = await readStored(username)
      const matches = await verifyPassword(password, stored?.passwordHash ?? (await decoyHash))
      return matches && stored ? toUser(stored) : null
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

import { performance } from 'node:perf_hooks'
import { Cluster, ReplyError, type Command, type Redis } from 'ioredis'

/** One Redis server (or a Sentinel-managed master), or a Redis Cluster: the commands the service uses work on both. */
export type RedisClient = Redis | Cluster

export interface ScriptDefinition {
  numberOfKeys: number
  lua: string
}

/**
 * Defines each script as a command of the client once, however many stores are built on it (as @fastify/rate-limit's
 * RedisStore does): ioredis then sends EVALSHA, and the script's text only when Redis does not know it yet.
 */
export function defineScripts(redis: RedisClient, scripts: Record<string, ScriptDefinition>): void {
  for (const [name, definition] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, definition)
  }
}

const mastersOf = (redis: RedisClient): Redis[] => (redis instanceof Cluster ? redis.nodes('master') : [redis])

/** Up to this many keys on a server, a count is exact; above, it is estimated from a sample of COUNT_SAMPLES keys. */
export const EXACT_COUNT_LIMIT = 10_000
export const COUNT_SAMPLES = 400

/**
 * How many keys start with `prefix`, all masters together, with no key that gathers them (which would put every write
 * of them on one Cluster node) and no cost on any write. Exact on a server with at most 10,000 keys (a SCAN); above,
 * DBSIZE times the share of 400 random keys that match: about ±5% when half the keys match, O(1) per sample.
 */
export async function countKeys(redis: RedisClient, prefix: string): Promise<number> {
  const counts = await Promise.all(mastersOf(redis).map(async (node) => {
    const size = await node.dbsize()
    if (size <= EXACT_COUNT_LIMIT) {
      // A SCAN may return a key twice (while Redis resizes its table): a set counts it once.
      const keys = new Set<string>()
      for await (const batch of node.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) for (const key of batch) keys.add(key)
      return keys.size
    }
    const sample = await Promise.all(Array.from({ length: COUNT_SAMPLES }, () => node.randomkey()))
    return Math.round((size * sample.filter((key) => key?.startsWith(prefix)).length) / COUNT_SAMPLES)
  }))
  return counts.reduce((sum, count) => sum + count, 0)
}

/**
 * Every key matching `pattern`, from each master of a Cluster or from the one server, with the client that holds it.
 * A full scan: for rare work (an account's deletion, an upgrade), never on a request's hot path.
 */
export async function* scanKeys(redis: RedisClient, pattern: string, type?: string): AsyncGenerator<{ key: string; node: Redis }> {
  for (const node of mastersOf(redis)) {
    const stream = node.scanStream({ match: pattern, count: 500, ...(type && { type }) }) as AsyncIterable<string[]>
    for await (const keys of stream) for (const key of keys) yield { key, node }
  }
}

/**
 * Redis error replies that mean a failover or a restart is under way rather than a bad command: a demoted master
 * refuses writes, a Cluster has slots without a master for a moment, a replica is still loading, or a slot moved
 * before the client refreshed its map. The code is the reply's first word.
 */
const OUTAGE_REPLY_CODES = new Set(['READONLY', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'LOADING', 'MOVED', 'ASK'])

/** Errors of commands that got no answer from Redis: a closed connection, a timeout, a Cluster without the node. */
const unanswered = new WeakSet<object>()

/** Told of every command of a client once it settles: how long it took, and its error when it failed. */
export type CommandListener = (command: Command, seconds: number, error: Error | undefined) => void

const listenersOf = new WeakMap<RedisClient, CommandListener[]>()

/**
 * Calls `listener` with every command the client sends (auto-pipelined and scripted ones included) once it settles.
 * The client is wrapped once, however many listen: one timer read and one promise reaction per command, attached
 * before the command is sent, so the listeners run before any caller's own handlers.
 */
export function onCommandSettled(redis: RedisClient, listener: CommandListener): void {
  const listeners = listenersOf.get(redis)
  if (listeners) {
    listeners.push(listener)
    return
  }
  const all = [listener]
  listenersOf.set(redis, all)
  // Redis and Cluster take different further arguments; both start with the command.
  const client = redis as unknown as { sendCommand(command: Command, ...rest: unknown[]): unknown }
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command, ...rest) => {
    const started = performance.now()
    const settle = (error?: Error) => {
      const seconds = (performance.now() - started) / 1000
      for (const listen of all) listen(command, seconds, error)
    }
    command.promise.then(() => settle(), settle)
    return send(command, ...rest)
  }
}

/**
 * Remembers the failures of this client's commands that did not come from Redis itself (ioredis gives those no type
 * or code of their own, only a message), so that isStoreOutage can tell them from a refused command.
 */
export function watchUnansweredCommands(redis: RedisClient): void {
  onCommandSettled(redis, (_command, _seconds, error) => {
    if (error !== undefined && !(error instanceof ReplyError)) unanswered.add(error)
  })
}

/** True when an error means Redis could not be reached (by type, or a reply's code), not that it refused a command. */
export function isStoreOutage(error: Error): boolean {
  if (!(error instanceof ReplyError)) return unanswered.has(error)
  const code = error.message.split(' ', 1)[0]!
  // A transaction Redis discarded fails for what it refused in it (a demoted master's READONLY, say).
  if (code === 'EXECABORT') return ((error as { previousErrors?: Error[] }).previousErrors ?? []).some(isStoreOutage)
  return OUTAGE_REPLY_CODES.has(code)
}

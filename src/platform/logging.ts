import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>
type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean }

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

// A stand-in's own fields, under symbols: names such as `child` or `bindings` are the logger's methods.
const PARENT = Symbol('parent')
const BINDINGS = Symbol('bindings')
const OPTIONS = Symbol('options')
const CHILD = Symbol('child')

/** What a stand-in holds: how to make its child, and the child once made. */
interface StandIn {
  [PARENT]: LevelAware
  [BINDINGS]: Bindings
  [OPTIONS]: ChildOptions
  [CHILD]: FastifyBaseLogger | undefined
}

/**
 * The prototype of a logger's stand-ins, made once per logger: the logger's own properties and methods by
 * inheritance, and, for each level, a method that makes the child only when the level is enabled and goes to it.
 */
function standInPrototype(parent: LevelAware): object {
  const real = (standIn: StandIn) => (standIn[CHILD] ??= standIn[PARENT].child(standIn[BINDINGS], standIn[OPTIONS]))
  const prototype = Object.create(parent) as Record<string, unknown>
  for (const level of LEVELS) {
    prototype[level] = function log(this: StandIn, ...line: unknown[]) {
      if (!this[PARENT].isLevelEnabled(level)) return
      ;(real(this)[level] as (...args: unknown[]) => void)(...line)
    }
  }
  prototype.child = function child(this: StandIn, ...args: Parameters<FastifyBaseLogger['child']>) {
    return real(this).child(...args)
  }
  prototype.bindings = function bindings(this: StandIn) {
    return (real(this) as unknown as { bindings(): object }).bindings()
  }
  // Setting a level on a stand-in would set it on the service's logger through the prototype: it goes to the child.
  Object.defineProperty(prototype, 'level', {
    get(this: StandIn) {
      return real(this).level
    },
    set(this: StandIn, level: string) {
      real(this).level = level
    },
  })
  return prototype
}

const prototypes = new WeakMap<object, object>()

/** A logger that can say which levels it writes (pino can; Fastify's logger when logging is off cannot). */
const hasLevels = (logger: Partial<LevelAware> & FastifyBaseLogger): logger is LevelAware => typeof logger.isLevelEnabled === 'function'

/**
 * Fastify makes a child logger for every request, to bind its request id. Pino runs the redaction of the wildcard paths
 * (REDACTED_LOG_PATHS' `*.password` and the like) over a child's bindings when it is made: about a tenth of the CPU of
 * an authenticated read (docs/performance.md), for a logger that, at the level production runs, most requests never
 * write to. This factory hands out a stand-in instead, whose levels make the real child on the first line logged at an
 * enabled level (as do `child` and `bindings`) and go to it: the same lines, bindings and redaction, made only for the
 * requests that log. A route with its own level or serializers gets its child at once, as does a logger that cannot
 * say which levels it writes.
 */
export const deferredChildLogger: ChildLoggerFactory = function deferredChildLogger(logger, bindings, options) {
  const parent = logger as Partial<LevelAware> & FastifyBaseLogger
  if (options.level !== undefined || options.serializers !== undefined || !hasLevels(parent)) return logger.child(bindings, options)
  let prototype = prototypes.get(parent)
  if (prototype === undefined) prototypes.set(parent, (prototype = standInPrototype(parent)))
  const standIn = Object.create(prototype) as StandIn
  standIn[PARENT] = parent
  standIn[BINDINGS] = bindings
  standIn[OPTIONS] = options
  standIn[CHILD] = undefined
  return standIn as unknown as FastifyBaseLogger
}

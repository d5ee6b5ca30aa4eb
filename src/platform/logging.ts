import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/**
 * Fastify makes a child logger for every request, to bind its request id. Pino runs the redaction of the wildcard paths
 * (REDACTED_LOG_PATHS' `*.password` and the like) over a child's bindings when it is made: about a tenth of the CPU of
 * an authenticated read (docs/performance.md), for a logger that, at the level production runs, most requests never
 * write to. This factory hands out a stand-in instead, made from the service's logger, whose enabled levels (and
 * `child`, `bindings`) make the real child on first use and go to it: the same lines, bindings and redaction, made
 * only for the requests that log. The disabled levels are the service logger's own no-ops. A route with its own level
 * or serializers gets its child at once, as does a logger that cannot say which levels it writes.
 */
export const deferredChildLogger: ChildLoggerFactory = function deferredChildLogger(logger, bindings, options) {
  const { isLevelEnabled } = logger as { isLevelEnabled?: (level: string) => boolean }
  if (options.level !== undefined || options.serializers !== undefined || isLevelEnabled === undefined) return logger.child(bindings, options)
  let child: FastifyBaseLogger | undefined
  const real = () => (child ??= logger.child(bindings, options))
  const standIn = Object.create(logger) as Record<string, unknown>
  for (const level of LEVELS) {
    if (isLevelEnabled.call(logger, level)) standIn[level] = (...line: unknown[]) => (real()[level] as (...args: unknown[]) => void)(...line)
  }
  standIn.child = (...args: Parameters<FastifyBaseLogger['child']>) => real().child(...args)
  standIn.bindings = () => (real() as unknown as { bindings(): object }).bindings()
  // Setting a level on the stand-in would set it on the service's logger through the prototype: it goes to the child.
  Object.defineProperty(standIn, 'level', { get: () => real().level, set: (level: string) => (real().level = level) })
  return standIn as unknown as FastifyBaseLogger
}

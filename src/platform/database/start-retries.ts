import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'

/**
 * Tries at start before giving up: the database answered the start's first query already, but a new connection may
 * still take longer than the pool's fail-fast connect timeout while instances start together on a busy machine.
 */
const START_ATTEMPTS = 4
const START_RETRY_DELAY_MS = 250

/** Runs a concern's first statements at start, trying START_ATTEMPTS times (warning of each failure) before failing the start. */
export async function retriedAtStart<T>(log: FastifyBaseLogger, what: string, task: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task()
    } catch (error) {
      if (attempt === START_ATTEMPTS) throw error
      log.warn({ err: error, attempt }, `could not ${what} at start; trying again`)
      await sleep(START_RETRY_DELAY_MS)
    }
  }
}

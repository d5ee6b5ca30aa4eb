import type { FastifyRequest } from 'fastify'

const USER_AGENT_MAX_LENGTH = 256

/** The client's User-Agent as sessions and tokens keep it (shown in their lists), at most 256 characters. */
export function userAgentOf(request: FastifyRequest): string {
  return (request.headers['user-agent'] ?? '').slice(0, USER_AGENT_MAX_LENGTH)
}

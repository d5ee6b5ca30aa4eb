import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { RouteOptions } from 'fastify'
import { statusOfCode } from '../errors.js'
import { named, ref } from './components.js'

export const ErrorResponse = named('Error', Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    code: Type.String({ description: 'A stable, machine-readable error code such as VALIDATION or SESSION_EXPIRED' }),
  },
  { additionalProperties: false, description: 'Every error answer has this shape' },
))
export type ErrorResponse = Static<typeof ErrorResponse>

/** The error shape for one status, with the codes a route answers under it. */
function errorsOfStatus(codes: string[]): TSchema {
  const sorted = [...new Set(codes)].sort()
  return Type.Intersect(
    [
      ref(ErrorResponse),
      Type.Object({ code: Type.Unsafe<string>({ type: 'string', enum: sorted, description: 'One of the codes this route answers with this status' }) }),
    ],
    { description: sorted.join(', ') },
  )
}

/** The codes a route's response schema lists for `status` (none when it lists no error there). */
export function documentedCodes(response: Record<string, unknown> | undefined, status: number): string[] {
  const parts = (response?.[status] as { allOf?: Array<{ properties?: { code?: { enum?: string[] } } }> } | undefined)?.allOf
  return parts?.flatMap((part) => part.properties?.code?.enum ?? []) ?? []
}

/**
 * The response schemas of the errors a route answers beyond those every route of its kind gets (see declareErrors),
 * by code: grouped by status, each status's schema names its codes. An unknown code fails at start.
 */
export function errorResponses(...codes: string[]): Record<number, TSchema> {
  const byStatus = new Map<number, string[]>()
  for (const code of codes) byStatus.set(statusOfCode(code), [...(byStatus.get(statusOfCode(code)) ?? []), code])
  return Object.fromEntries([...byStatus].map(([status, ofStatus]) => [status, errorsOfStatus(ofStatus)]))
}

/**
 * Adds `codes` to what a route documents (an onRoute hook of the plugin or guard that answers them), so that the
 * OpenAPI document lists every error a route can give, each where it arises.
 */
export function declareErrors(route: RouteOptions, codes: readonly string[]): void {
  if (!route.schema || codes.length === 0) return
  const response = { ...(route.schema.response as Record<string, unknown> | undefined) }
  for (const [status, schema] of Object.entries(errorResponses(...codes))) {
    response[status] = errorsOfStatus([...documentedCodes(response, Number(status)), ...documentedCodes({ [status]: schema }, Number(status))])
  }
  route.schema = { ...route.schema, response }
}

/** The body of a 204 answer: none. */
export const NoContent = { type: 'null', description: 'No content' }

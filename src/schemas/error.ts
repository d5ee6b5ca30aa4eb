import { Type, type Static } from '@sinclair/typebox'

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    code: Type.String({ description: 'A stable, machine-readable error code such as VALIDATION or SESSION_EXPIRED' }),
  },
  { title: 'Error', additionalProperties: false },
)
export type ErrorResponse = Static<typeof ErrorResponse>

/** The response schemas of the error statuses a route can answer with. */
export function errorResponses<Status extends number>(...statuses: Status[]): Record<Status, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorResponse])) as Record<Status, typeof ErrorResponse>
}

/** The body of a 204 answer: none. */
export const NoContent = { type: 'null', description: 'No content' }

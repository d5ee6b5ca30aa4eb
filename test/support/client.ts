import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

/** What a test needs of an HTTP response: its status, JSON body and the cookies it sets. */
export interface HttpReply {
  status: number
  body: Record<string, unknown>
  /** The `name=value` of a non-empty `sid` cookie the response sets, else null. */
  cookie: string | null
  /** Every non-empty cookie the response sets, as `name=value` by name. */
  cookies: Record<string, string>
}

export interface CallOptions {
  cookie?: string
  /** An Authorization header: `Bearer <token>`. */
  authorization?: string
  body?: unknown
}

/** Something a test sends requests to: an app through inject, or a running instance over real HTTP. */
export interface Client {
  call(method: string, path: string, options?: CallOptions): Promise<HttpReply>
}

function headersOf({ cookie, authorization, body }: CallOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  if (cookie) headers.cookie = cookie
  if (authorization) headers.authorization = authorization
  if (body !== undefined) headers['content-type'] = 'application/json'
  return headers
}

function replyOf(status: number, text: string, setCookieLines: string[]): HttpReply {
  const pairs = setCookieLines.map((line) => line.split(';')[0]!)
  const cookies = Object.fromEntries(pairs.filter((pair) => !pair.endsWith('=')).map((pair) => [pair.slice(0, pair.indexOf('=')), pair]))
  return { status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie: cookies.sid ?? null, cookies }
}

/** One request over real HTTP (a fresh fetch, so concurrent calls really are concurrent). */
export async function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<HttpReply> {
  const payload = options.body === undefined ? {} : { body: JSON.stringify(options.body) }
  const response = await fetch(baseUrl + path, { method, headers: headersOf(options), ...payload })
  return replyOf(response.status, await response.text(), response.headers.getSetCookie())
}

/** What the flows take: an app (reached through inject) or a client of running instances. */
export type Target = FastifyInstance | Client

export function clientOf(target: Target): Client {
  return 'call' in target ? target : injected(target)
}

/** An app, reached through inject. */
export function injected(app: FastifyInstance): Client {
  return {
    async call(method, path, options = {}) {
      const payload = options.body === undefined ? {} : { payload: JSON.stringify(options.body) }
      const response: LightMyRequestResponse = await app.inject({ method: method as 'GET', url: path, headers: headersOf(options), ...payload })
      return replyOf(response.statusCode, response.body, [response.headers['set-cookie'] ?? []].flat().map(String))
    },
  }
}

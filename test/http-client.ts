/** What a test needs of an HTTP response: its status, JSON body and the session cookie it sets. */
export interface HttpReply {
  status: number
  body: Record<string, unknown>
  /** The `name=value` of a non-empty `sid` cookie the response sets, else null. */
  cookie: string | null
}

export interface CallOptions {
  cookie?: string
  /** An Authorization header: `Bearer <token>`. */
  authorization?: string
  body?: unknown
}

/** One request over real HTTP (a fresh fetch, so concurrent calls really are concurrent). */
export async function call(baseUrl: string, method: string, path: string, { cookie, authorization, body }: CallOptions = {}): Promise<HttpReply> {
  const headers: Record<string, string> = {}
  if (cookie) headers.cookie = cookie
  if (authorization) headers.authorization = authorization
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(baseUrl + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) })
  const text = await response.text()
  const sid = response.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => pair.startsWith('sid=') && pair !== 'sid=')
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie: sid ?? null }
}

/** What a test needs of an HTTP response: its status, JSON body and the session cookie it sets. */
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

/** One request over real HTTP (a fresh fetch, so concurrent calls really are concurrent). */
export async function call(baseUrl: string, method: string, path: string, { cookie, authorization, body }: CallOptions = {}): Promise<HttpReply> {
  const headers: Record<string, string> = {}
  if (cookie) headers.cookie = cookie
  if (authorization) headers.authorization = authorization
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(baseUrl + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) })
  const text = await response.text()
  const pairs = response.headers.getSetCookie().map((line) => line.split(';')[0]!)
  const cookies = Object.fromEntries(pairs.filter((pair) => !pair.endsWith('=')).map((pair) => [pair.slice(0, pair.indexOf('=')), pair]))
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie: cookies.sid ?? null, cookies }
}

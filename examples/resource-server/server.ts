// A service of another team that trusts the session service's logins without calling it for each request: it
// verifies JWT access tokens offline, with the public keys the service publishes (GET /.well-known/jwks.json), and
// accepts a token until it expires. Run it: ISSUER=http://localhost:3000 PORT=4000 npx tsx examples/resource-server/server.ts
import { createServer, type Server } from 'node:http'
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'

export interface ResourceServerOptions {
  /** The session service's URL: its `iss`, and where its key set is. */
  issuer: string
  /** The audience our tokens must be for (JWT_AUDIENCE of the service; its issuer URL unless set). */
  audience?: string
}

/** An HTTP server whose GET /notes answers the caller's user id and roles, for a valid access token only. */
export function resourceServer({ issuer, audience = issuer }: ResourceServerOptions): Server {
  // jose caches the set, and fetches it again (at most every 30 s) when a token names a key it has not seen.
  const keys = createRemoteJWKSet(new URL('/.well-known/jwks.json', issuer))
  return createServer(async (request, response) => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {}) })
      response.end(JSON.stringify(body))
    }
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1]
    if (token === undefined) return answer(401, { error: 'no bearer token' })
    try {
      // Pinned: the algorithm, the token type, the issuer and the audience (RFC 8725 §3, RFC 9068 §4).
      const { payload } = await jwtVerify(token, keys, { algorithms: ['EdDSA'], typ: 'at+jwt', issuer, audience })
      answer(200, { userId: payload.sub, username: payload.preferred_username, roles: payload.roles, session: payload.sid })
    } catch (error) {
      if (error instanceof errors.JOSEError) return answer(401, { error: error.code })
      answer(500, { error: 'internal' })
    }
  })
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const issuer = process.env.ISSUER ?? 'http://localhost:3000'
  const port = Number(process.env.PORT ?? 4000)
  resourceServer({ issuer, audience: process.env.AUDIENCE }).listen(port, () => console.log(`resource server on http://localhost:${port}, trusting ${issuer}`))
}

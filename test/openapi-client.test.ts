import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import openapiTS, { astToString } from 'openapi-typescript'
import t from 'tap'
import { build, PASSWORD, uniquePrefix } from './support/helper.js'

type Walkthrough = (baseUrl: string, username: string, password: string) => Promise<{
  registered: { username: string; roles: string[] }
  me: { username: string; emailVerified: boolean }
  sessions: Array<{ current: boolean }>
  loggedOut: number
  afterLogout: string
}>

const clientFolder = new URL('./openapi-client/', import.meta.url)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

/** Generates generated/openapi.d.ts from `document` (openapi-typescript), then type-checks the walkthrough against it. */
async function typeCheckAgainst(document: object): Promise<{ passes: boolean; output: string }> {
  await mkdir(new URL('generated/', clientFolder), { recursive: true })
  await writeFile(new URL('generated/openapi.d.ts', clientFolder), astToString(await openapiTS(document as never)))
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', new URL('tsconfig.json', clientFolder).pathname])
    return { passes: true, output: '' }
  } catch (error) {
    return { passes: false, output: String((error as { stdout?: string }).stdout) }
  }
}

t.test('a client generated from the OpenAPI document (openapi-typescript + openapi-fetch) type-checks and works', async (t) => {
  const app = await build(t)
  const document = (await app.inject({ url: '/docs/json' })).json() as { components: { schemas: Record<string, { properties: Record<string, unknown>; required: string[] }> } }

  // First the contract a client relies on, broken: the user's name gone. The walkthrough must stop type-checking.
  const broken = structuredClone(document)
  const user = broken.components.schemas.User!
  delete user.properties.username
  user.required = user.required.filter((name) => name !== 'username')
  const onBroken = await typeCheckAgainst(broken)
  t.notOk(onBroken.passes, 'a contract without User.username fails the type check')
  t.match(onBroken.output, /walkthrough\.ts.*'username'/, 'where the walkthrough reads it')

  const onServed = await typeCheckAgainst(document)
  t.ok(onServed.passes, `the walkthrough type-checks against the served document${onServed.output ? `:\n${onServed.output}` : ''}`)

  // Then the same code, run over real HTTP against the service.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  // Loaded by URL: the root type check must not follow it (its generated types do not exist before this test).
  const { walkthrough } = (await import(new URL('walkthrough.ts', clientFolder).href)) as { walkthrough: Walkthrough }
  const username = `client_${uniquePrefix().slice(0, 8)}`
  const result = await walkthrough(`http://127.0.0.1:${port}`, username, PASSWORD)
  t.match(result.registered, { username, roles: ['user'] }, 'registered')
  t.same(result.me, { username, emailVerified: false }, 'GET /auth/me with the bearer token')
  t.equal(result.sessions.length, 1, 'one session')
  t.equal(result.sessions[0]?.current, true, 'the current one')
  t.equal(result.loggedOut, 204, 'logged out')
  t.equal(result.afterLogout, 'SESSION_EXPIRED', 'and the token no longer works')
})

import { readFile } from 'node:fs/promises'
import SwaggerParser from '@apidevtools/swagger-parser'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import t from 'tap'
import { build, type App } from './support/helper.js'

interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  security?: Array<Record<string, string[]>>
  responses: Record<string, unknown>
}
type OpenApi = { paths: Record<string, Record<string, Operation>> }
type Components = { components: { schemas: Record<string, { description?: string; required: string[]; properties?: object }> } }

/** Every route of the app as "METHOD /path" (HEAD left out), read from Fastify's own route tree. */
function routesOf(app: App): string[] {
  const routes: string[] = []
  const prefixes: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.+) \((.+)\)$/.exec(line)
    if (!match) continue
    const depth = match[1]!.length / 4
    prefixes[depth] = (prefixes[depth - 1] ?? '') + match[2]
    prefixes.length = depth + 1
    for (const method of match[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${prefixes[depth]}`)
  }
  return routes
}

const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}')

t.test('GET /docs/json is a valid OpenAPI 3.1 document that lists every route of the app', async (t) => {
  const app = await build(t)
  const response = await app.inject({ url: '/docs/json' })
  t.equal(response.statusCode, 200)
  const document = response.json() as OpenApi
  await t.resolves(SwaggerParser.validate(structuredClone(document) as never), 'valid')
  const routes = routesOf(app).filter((route) => !route.includes(' /docs'))
  t.ok(routes.length >= 15, `${routes.length} routes`)
  for (const route of routes) {
    const [method, path] = route.split(' ') as [string, string]
    const operation = document.paths[openApiPath(path)]?.[method.toLowerCase()]
    t.ok(operation, `${route} is documented`)
    t.ok(operation?.summary, `${route} has a summary`)
    t.ok(operation?.tags?.length, `${route} has tags`)
    t.ok(Object.keys(operation?.responses ?? {}).some((status) => status.startsWith('2')), `${route} documents its success`)
  }
})

t.test("the document passes Redocly's recommended rules, with a unique operationId and a security requirement on every operation", async (t) => {
  const app = await build(t)
  const source = (await app.inject({ url: '/docs/json' })).body
  const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config: await createConfig({ extends: ['recommended'] }) })
  const described = (severity: string) =>
    problems.filter((problem) => problem.severity === severity).map((problem) => `${problem.ruleId} ${problem.location[0]?.pointer}`)
  t.same(described('error'), [], 'no error')
  // The two warnings left say true things: the project has chosen no licence, and the probes answer 200 or 503, never a 4xx.
  t.same(described('warn').sort(), [
    'info-license #/info',
    'operation-4xx-response #/paths/~1health~1live/get/responses',
    'operation-4xx-response #/paths/~1health~1ready/get/responses',
  ], 'no warning but those')
  t.same(problems.filter((problem) => problem.ruleId === 'operation-operationId').length, 0, 'no operation without an operationId')
  const operations = Object.values((JSON.parse(source) as OpenApi).paths).flatMap((methods) => Object.values(methods))
  const ids = operations.map((operation) => operation.operationId)
  t.equal(new Set(ids).size, operations.length, `${operations.length} operations, each its own operationId, for generated clients' method names`)
  t.ok(operations.every((operation) => Array.isArray(operation.security)), 'public ones say so (security: [])')
})

t.test('every error answer in the document has the error shape and names the codes it can carry', async (t) => {
  const app = await build(t)
  const { paths, components } = (await app.inject({ url: '/docs/json' })).json() as OpenApi & Components
  type ErrorAnswer = { allOf: [{ $ref: string }, { properties: { code: { enum?: string[] } } }] }
  const schemaOf = (answer: unknown) => (answer as { content: Record<string, { schema: ErrorAnswer }> }).content['application/json']!.schema
  const codesOf = (answer: unknown) => schemaOf(answer).allOf[1].properties.code.enum
  t.same(components.schemas.Error!.required.sort(), ['code', 'error', 'message', 'statusCode'], 'the error shape, named Error')
  let errors = 0
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      for (const [status, answer] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue
        errors++
        t.equal(schemaOf(answer).allOf[0].$ref, '#/components/schemas/Error', `${method} ${path} ${status}: the error shape`)
        t.ok(codesOf(answer)?.length, `${method} ${path} ${status}: its codes`)
      }
    }
  }
  t.ok(errors > 100, `${errors} error answers documented`)
  const login = paths['/auth/login']!.post!.responses
  t.same(codesOf(login['401']), ['INVALID_CREDENTIALS', 'LOGIN_INTERRUPTED', 'SESSION_EXPIRED'], 'POST /auth/login: its own codes and the session plugin\'s')
  t.same(codesOf(login['429']), ['ACCOUNT_LOCKED', 'RATE_LIMITED'], 'and those of the plugins in front of it')
  t.ok(codesOf(login['400'])!.includes('INVALID_JSON'), 'and Fastify\'s own')
  const dashboard = paths['/api/dashboard']!.get!.responses
  t.same(codesOf(dashboard['403']), ['INSUFFICIENT_SCOPE'], 'GET /api/dashboard: its guard\'s')
  t.ok(codesOf(dashboard['400'])!.includes('AMBIGUOUS_CREDENTIALS'), 'and the session plugin\'s')
})

t.test('what repeats is a named schema, and every answer says what it means', async (t) => {
  const app = await build(t)
  const { paths, components } = (await app.inject({ url: '/docs/json' })).json() as OpenApi & Components
  for (const name of ['Error', 'User', 'Session', 'AccessToken', 'MfaStatus', 'Account', 'Preferences', 'LoggedIn']) {
    t.ok(components.schemas[name]?.description, `components.schemas.${name}, described`)
  }
  // A named schema's exact set of fields never appears inline in an answer: every use is a $ref.
  const fieldSets = new Map(Object.entries(components.schemas).map(([name, schema]) => [JSON.stringify(Object.keys(schema.properties ?? {}).sort()), name]))
  const inline: string[] = []
  const walk = (node: unknown, where: string): void => {
    if (!node || typeof node !== 'object') return
    const { properties } = node as { properties?: object }
    const named = properties && fieldSets.get(JSON.stringify(Object.keys(properties).sort()))
    if (named) inline.push(`${named} inline at ${where}`)
    for (const [key, child] of Object.entries(node)) walk(child, `${where}/${key}`)
  }
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(methods)) walk(operation.responses, `#/paths/${path}/${method}/responses`)
  }
  t.same(inline, [], 'no named schema copied inline')
  const undescribed = Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).flatMap(([method, operation]) =>
    Object.entries(operation.responses as Record<string, { description?: string }>)
      .filter(([, answer]) => !answer.description || answer.description === 'Default Response')
      .map(([status]) => `${method} ${path} ${status}`)))
  t.same(undescribed, [], 'every answer has a description of its own')
})

t.test('docs/api.md names every route of the app', async (t) => {
  const app = await build(t)
  const page = await readFile(new URL('../docs/api.md', import.meta.url), 'utf8')
  const routes = routesOf(app).filter((route) => !route.includes(' /docs'))
  for (const route of routes) t.ok(page.includes(`\`${route}\``), `${route} is in docs/api.md`)
})

t.test('every code block docs/building-on-it.md quotes from a file is in that file, word for word', async (t) => {
  const page = await readFile(new URL('../docs/building-on-it.md', import.meta.url), 'utf8')
  const quotes = [...page.matchAll(/<!-- quoted from (\S+) -->\n```ts\n([\s\S]*?)```/g)]
  t.ok(quotes.length >= 3, `${quotes.length} quoted blocks`)
  for (const [, path, code] of quotes) {
    const source = await readFile(new URL(`../${path}`, import.meta.url), 'utf8')
    t.ok(source.includes(code!), `the block quoted from ${path} is there`)
  }
})

t.test('routes behind the session guard declare the cookie and bearer security schemes and their error answers', async (t) => {
  const app = await build(t)
  const { paths, components } = (await app.inject({ url: '/docs/json' })).json() as OpenApi & {
    components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> }
  }
  t.same(components.securitySchemes.sessionCookie, { type: 'apiKey', in: 'cookie', name: 'sid', description: 'Set by POST /auth/login' })
  t.match(components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' })
  for (const [path, method] of [['/auth/me', 'get'], ['/api/dashboard', 'get'], ['/auth/sessions/{id}', 'delete'], ['/admin/users/{username}/sessions', 'get']]) {
    const operation = paths[path!]![method!]!
    t.same(operation.security, [{ sessionCookie: [] }, { bearerAuth: [] }], `${method} ${path} needs the session cookie or a bearer token`)
    t.ok(operation.responses['401'], `${method} ${path} documents 401`)
  }
  t.ok(paths['/auth/login']!.post!.responses['429'], 'login documents 429')
  t.same(Object.keys(paths['/health/ready']!.get!.responses).sort(), ['200', '503'])
})

t.test('GET /docs serves the browsable UI', async (t) => {
  const app = await build(t)
  const page = await app.inject({ url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /swagger-ui/i)
  const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.equal(initializer.statusCode, 200, 'its script is served from the same origin, as the CSP requires')
})

t.test('DOCS_ENABLED=false turns the documentation off', async (t) => {
  const app = await build(t, { DOCS_ENABLED: 'false' })
  t.equal((await app.inject({ url: '/docs/json' })).statusCode, 404)
  t.equal((await app.inject({ url: '/docs' })).statusCode, 404)
})

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { build, freePort, PASSWORD } from '../support/helper.js'
import { clientOf } from '../support/client.js'
import { loggedIn, register } from '../support/flows.js'

// GET /auth/verify protects an upstream that knows nothing about sessions: through a real nginx (auth_request) where
// one is installed (Debian's nginx-light; .ci/run installs it), else the same contract straight over HTTP.

const NGINX = '/usr/sbin/nginx'

/** nginx in front of `upstream`, asking `service` about each request: /app/ for any user, /admin-app/ for admins. */
function nginxConfig(port: number, service: string, upstream: string, dir: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${dir}/${kind};`).join('\n    ')
  const protectedLocation = (path: string, auth: string) => `
    location ${path} {
      auth_request ${auth};
      auth_request_set $user_id $upstream_http_x_user_id;
      auth_request_set $user_name $upstream_http_x_user_name;
      auth_request_set $user_roles $upstream_http_x_user_roles;
      proxy_set_header X-User-Id $user_id;
      proxy_set_header X-User-Name $user_name;
      proxy_set_header X-User-Roles $user_roles;
      proxy_pass ${upstream};
    }
    location = ${auth} {
      internal;
      proxy_pass ${service}/auth/verify${auth === '/_auth_admin' ? '?role=admin' : ''};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }`
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log stderr error;
events {}
http {
  access_log off;
  ${temp}
  server {
    listen 127.0.0.1:${port};
    ${protectedLocation('/app/', '/_auth')}
    ${protectedLocation('/admin-app/', '/_auth_admin')}
  }
}
`
}

/** Starts nginx and waits until it answers; null where it is not installed. */
async function startNginx(t: Test, service: string, upstream: string): Promise<string | null> {
  if (!existsSync(NGINX)) return null
  const dir = await mkdtemp(join(tmpdir(), 'nginx-'))
  const port = await freePort()
  await writeFile(join(dir, 'nginx.conf'), nginxConfig(port, service, upstream, dir))
  const child = spawn(NGINX, ['-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  t.teardown(async () => {
    child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/`).then(() => true, () => false)) return url
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`nginx did not start: ${stderr}`)
}

t.test('forward auth: the upstream is reached only with a valid credential, and learns the user from the proxy', async (t) => {
  const port = await freePort()
  const app = await build(t, { PUBLIC_URL: `http://127.0.0.1:${port}`, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD })
  await app.listen({ port, host: '127.0.0.1' })
  const service = `http://127.0.0.1:${port}`
  const seen: Record<string, string | undefined>[] = []
  const upstream = createServer((request, response) => {
    seen.push({ id: request.headers['x-user-id'] as string, name: request.headers['x-user-name'] as string, roles: request.headers['x-user-roles'] as string })
    response.end('upstream')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => upstream.close())
  const proxy = await startNginx(t, service, `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`)
  t.comment(proxy === null ? 'nginx is not installed: the contract over HTTP' : `through nginx at ${proxy}`)

  const client = clientOf(app)
  const cookie = await loggedIn(client, 'alice')
  await register(client, 'bob')
  const pair = (await client.call('POST', '/auth/login', { body: { username: 'bob', password: PASSWORD, transport: 'jwt' } })).body
  const admin = (await client.call('POST', '/auth/login', { body: { username: 'root', password: PASSWORD } })).cookie!

  /** The status a request with `headers` gets for `path`: through nginx, or from /auth/verify itself. */
  async function statusOf(path: string, headers: Record<string, string>): Promise<number> {
    if (proxy !== null) return (await fetch(`${proxy}${path}`, { headers })).status
    const role = path.startsWith('/admin-app/') ? '?role=admin' : ''
    return (await fetch(`${service}/auth/verify${role}`, { headers })).status
  }

  t.equal(await statusOf('/app/', {}), 401, 'no credential: 401, the upstream is not reached')
  t.equal(await statusOf('/app/', { cookie: 'sid=s%3Aforged.signature' }), 401, 'a forged cookie: 401')
  t.equal(seen.length, 0)
  t.equal(await statusOf('/app/', { cookie, 'x-user-name': 'root', 'x-user-id': 'forged' }), 200, 'a session cookie')
  if (proxy !== null) t.match(seen.at(-1), { name: 'alice', roles: 'user' }, "the proxy's headers replace the client's")
  t.equal(await statusOf('/app/', { authorization: `Bearer ${String(pair.accessToken)}` }), 200, 'a JWT access token')
  if (proxy !== null) t.match(seen.at(-1), { name: 'bob' })
  t.equal(await statusOf('/admin-app/', { cookie }), 403, 'a user without the role: 403')
  t.equal(await statusOf('/admin-app/', { cookie: admin }), 200, 'an admin')
  if (proxy !== null) t.match(seen.at(-1), { name: 'root', roles: 'admin,user' })

  await client.call('POST', '/auth/logout', { cookie })
  await client.call('POST', '/auth/revoke', { body: { token: pair.refreshToken } })
  t.equal(await statusOf('/app/', { cookie }), 401, 'after logout: 401 at once')
  t.equal(await statusOf('/app/', { authorization: `Bearer ${String(pair.accessToken)}` }), 401, 'a revoked JWT session: 401 at once')
})

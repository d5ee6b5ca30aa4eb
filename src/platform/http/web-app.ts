import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'
import { ConfigError } from '../../config.js'
import { WEB_APP_PAGES } from '../../lib/web-pages.js'
import { htmlSecurityHeaders } from './security-headers.js'

/** Where `npm run build` puts the web app (vite.config.ts): the same place from src/ (tsx) and from dist/ (built). */
export const WEB_APP_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url))

/**
 * The pages' policy: scripts, styles and API calls from this origin only, never inline (the app has none); images
 * also as data: URLs (the two-factor QR code). Nothing may frame a page that holds a password field.
 */
function pageHeaders(upgradeInsecureRequests: boolean): Record<string, string> {
  return htmlSecurityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(upgradeInsecureRequests && { upgradeInsecureRequests: [] }),
      },
    },
    frameguard: { action: 'deny' },
  })
}

export interface WebAppOptions {
  /** The built app; WEB_APP_DIR unless a test builds its own. */
  dir?: string
  /** PUBLIC_URL is https: the pages ask the browser to load nothing over plain http. */
  secure: boolean
}

/**
 * The web app at its page paths (lib/web-pages.ts), from the files `npm run build` made: the HTML revalidated on every
 * load (`no-cache`), so a deploy reaches every browser at its next page load, and the hashed assets cached for a year
 * (their names change with their content). Every other path keeps the API's JSON answers, 404s included. The pages
 * need no session: the app asks GET /auth/me, with the cookie the browser sends.
 */
export default fp<WebAppOptions>(
  async function webAppPlugin(app, { dir = WEB_APP_DIR, secure }) {
    if (!existsSync(`${dir}/index.html`)) {
      throw new ConfigError(`WEB_APP is on but the web app is not built (no ${dir}index.html): run npm run build, or set WEB_APP=false`)
    }
    // Brotli or gzip files written beside the assets at build time, chosen by Accept-Encoding: nothing compressed per request.
    await app.register(fastifyStatic, { root: dir, serve: false, preCompressed: true })
    const headers = { ...pageHeaders(secure), 'cache-control': 'no-cache' }
    for (const url of Object.values(WEB_APP_PAGES)) {
      app.get(url, { schema: { hide: true } }, (_request, reply) => reply.headers(headers).sendFile('index.html', { cacheControl: false }))
    }
    // Files a page loads: not counted against the client's request limit (one page load is several of them).
    app.get('/assets/*', { schema: { hide: true }, config: { rateLimit: false } }, (request, reply) => {
      const file = (request.params as { '*': string })['*']
      return reply.sendFile(file, `${dir}/assets`, { immutable: true, maxAge: '365d' })
    })
  },
  { name: 'web-app', dependencies: ['security-headers'] },
)

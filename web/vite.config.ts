import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin } from 'vite'

/** Where `npm run dev` runs the service: Vite's dev server passes API calls there, so the app stays same-origin. */
const serviceUrl = process.env.WEB_DEV_SERVICE_URL ?? 'http://127.0.0.1:3000'

/**
 * Brotli and gzip copies beside each script and style sheet, which the service sends to browsers that accept them
 * (@fastify/static's preCompressed): compressed once at build time, never per request.
 */
function precompressed(): Plugin {
  return {
    name: 'precompressed',
    apply: 'build',
    // After the files are written: the bundle then holds their final code (Vite rewrites chunks up to generateBundle).
    async writeBundle({ dir = '' }, bundle) {
      for (const file of Object.values(bundle)) {
        if (!/\.(js|css)$/.test(file.fileName)) continue
        const source = Buffer.from(file.type === 'chunk' ? file.code : file.source)
        const path = join(dir, file.fileName)
        await Promise.all([writeFile(`${path}.br`, brotliCompressSync(source)), writeFile(`${path}.gz`, gzipSync(source, { level: 9 }))])
      }
    },
  }
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react(), precompressed()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // Everything as files: the pages' Content-Security-Policy allows scripts and styles from this origin only.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: Object.fromEntries(['/auth', '/api', '/admin', '/health', '/docs'].map((prefix) => [prefix, serviceUrl])),
  },
})

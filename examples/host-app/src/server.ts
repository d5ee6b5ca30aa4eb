import { loadConfig } from 'redis-session-api'
import { buildHostApp } from './app.ts'

// The same settings as the standalone service (docs/configuration.md), from the environment.
const config = loadConfig(process.env)
const app = await buildHostApp(config, { logger: true })
await app.listen({ port: config.port, host: config.host })

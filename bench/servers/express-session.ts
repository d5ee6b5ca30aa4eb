// Baseline A: Express + express-session + connect-redis on ioredis (resave false, saveUninitialized false).
import { RedisStore } from 'connect-redis'
import express from 'express'
import session from 'express-session'
import { Redis } from 'ioredis'

declare module 'express-session' {
  interface SessionData {
    user: { id: string; username: string }
  }
}

const redis = new Redis(process.env.REDIS_URL ?? '')
const app = express()
app.use(express.json())
app.use(
  session({
    store: new RedisStore({ client: redis, prefix: 'bench-express:' }),
    secret: process.env.SESSION_SECRET ?? '',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 1_800_000 },
  }),
)
app.post('/login', (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) return next(error)
    req.session.user = { id: '1', username: 'benchuser' }
    res.json({ ok: true })
  })
})
app.get('/dashboard', (req, res) => {
  if (!req.session.user) {
    res.status(401).json({ message: 'unauthenticated' })
    return
  }
  res.json({ message: `Welcome ${req.session.user.username}` })
})
app.listen(Number(process.env.PORT), '127.0.0.1')

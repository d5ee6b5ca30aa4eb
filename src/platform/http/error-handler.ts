import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { STORE_RETRY_AFTER_SECONDS, errorBody, toErrorBody } from '../../errors.js'
import { isDatabaseOutage } from '../database/connection.js'
import { isStoreOutage } from '../redis/client.js'
import { declareErrors } from '../../schemas/error.js'

const BODY_ERRORS = ['INVALID_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** One place maps every error to `{statusCode, error, message, code}`. */
export default fp(
  async function errorsPlugin(app) {
    // What Fastify itself answers before a handler runs: a body it cannot parse on any method that may carry one (with
    // or without a schema), and a body, query or parameters that fail their schema.
    app.addHook('onRoute', (route) => {
      const { body, querystring, params } = route.schema ?? {}
      const takesBody = [route.method].flat().some((method) => !BODYLESS_METHODS.has(method))
      declareErrors(route, [...(takesBody ? BODY_ERRORS : []), ...(body || querystring || params ? ['VALIDATION'] : [])])
    })
    app.setErrorHandler(function handleError(error: FastifyError, request, reply) {
      const storeDown = app.redis.status !== 'ready' || isStoreOutage(error) || isDatabaseOutage(error)
      const body = toErrorBody(error, storeDown)
      if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed')
      if (body.code === 'STORE_UNAVAILABLE') reply.header('retry-after', STORE_RETRY_AFTER_SECONDS)
      // An error that knows when to retry (PasswordChecksBusy, AccountLockedFor) says so. Not instanceof: @fastify/error's
      // classes match any error of their code (Overloaded from load shedding too).
      const { retryAfterSeconds } = error as { retryAfterSeconds?: unknown }
      if (typeof retryAfterSeconds === 'number') reply.header('retry-after', retryAfterSeconds)
      return reply.code(body.statusCode).send(body)
    })

    app.setNotFoundHandler(function handleNotFound(request, reply) {
      return reply.code(404).send(errorBody(404, 'NOT_FOUND', `Route ${request.method} ${request.url} not found`))
    })
  },
  { name: 'errors', dependencies: ['redis'] },
)

import fp from 'fastify-plugin'
import { documentedCodes } from '../../schemas/error.js'

export interface AnswerContractOptions {
  /** Called with a line for each answer whose status or error code the route's documented responses do not list. */
  onUndocumented: (problem: string) => void
}

/**
 * Holds every answer to the route's documented responses (what the OpenAPI document shows): the test suite turns it on
 * (BuildOptions.onUndocumentedAnswer), so that any test provoking an undocumented status or code fails. Off otherwise:
 * it parses every error body.
 */
export default fp<AnswerContractOptions>(
  async function answerContractPlugin(app, { onUndocumented }) {
    app.addHook('onSend', async (request, reply, payload) => {
      const { schema } = request.routeOptions
      // Routes left out of the document (the documentation's own pages) promise nothing.
      const response = schema?.hide ? undefined : (schema?.response as Record<string, unknown> | undefined)
      if (!response) return payload
      const status = reply.statusCode
      const route = `${request.method} ${request.routeOptions.url ?? request.url}`
      if (!(status in response)) {
        onUndocumented(`${route} answered ${status}, which it does not document`)
      } else if (status >= 400 && typeof payload === 'string') {
        const { code } = JSON.parse(payload) as { code?: string }
        if (!documentedCodes(response, status).includes(code ?? '')) onUndocumented(`${route} answered ${status} ${code}, which it does not document`)
      }
      return payload
    })
  },
  { name: 'answer-contract' },
)

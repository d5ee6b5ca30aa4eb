import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError } from 'fastify'
import { toErrorBody } from '../../errors.js'

const STATUS_BY_PARSER_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (a header block over 16 KiB, a malformed request
 * line) get the same JSON error shape as everything else.
 */
export function clientErrorHandler(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const statusCode = STATUS_BY_PARSER_CODE[error.code] ?? 400
  const message = statusCode === 431 ? 'Request headers are too large' : 'Malformed HTTP request'
  const body = JSON.stringify(toErrorBody({ statusCode, message }, false))
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n`
      + `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
      + `Connection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(error)
}

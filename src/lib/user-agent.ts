const USER_AGENT_MAX_LENGTH = 256

/** A User-Agent header as sessions and tokens keep it (shown in their lists), at most 256 characters. */
export function keptUserAgent(header: string | undefined): string {
  return (header ?? '').slice(0, USER_AGENT_MAX_LENGTH)
}

/**
 * What most User-Agents are made of, longest first. Each session stores its User-Agent, so these are stored as a
 * two-character code: a desktop Chrome's 117 characters become 12; the rest of any User-Agent is kept as it is.
 */
const COMMON_PARTS = [
  ') AppleWebKit/537.36 (KHTML, like Gecko) Chrome/',
  ') AppleWebKit/605.1.15 (KHTML, like Gecko) ',
  'Macintosh; Intel Mac OS X 10_15_7',
  ' Mobile/15E148 Safari/604.1',
  ' Mobile Safari/537.36',
  'Windows NT 10.0; Win64; x64',
  '.0.0.0 Safari/537.36',
  ' Gecko/20100101 Firefox/',
  'iPhone; CPU iPhone OS ',
  'Linux; Android 10; K',
  'X11; Linux x86_64',
  ' like Mac OS X',
  'Mozilla/5.0 (',
  'Safari/605.1.15',
  'Version/',
  ' Edg/',
  '; rv:',
  '.0.0',
]
const CODES = '0123456789abcdefghijklmnopqrstuvwxyz'
const ESCAPE = '~'
/** One pass over the text, so a code never becomes part of the next match; the escape character is doubled. */
const PACKABLE = new RegExp([ESCAPE, ...COMMON_PARTS].map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
const PACKED = new RegExp(`${ESCAPE}([${ESCAPE}${CODES}])`, 'g')

/** A User-Agent as sessions store it: marked by a leading escape character, so one stored plain still reads. */
export function packUserAgent(userAgent: string): string {
  return ESCAPE + userAgent.replace(PACKABLE, (part) => ESCAPE + (part === ESCAPE ? ESCAPE : CODES[COMMON_PARTS.indexOf(part)]))
}

export function unpackUserAgent(stored: string): string {
  if (!stored.startsWith(ESCAPE)) return stored
  return stored.slice(1).replace(PACKED, (_, code: string) => (code === ESCAPE ? ESCAPE : COMMON_PARTS[CODES.indexOf(code)]!))
}

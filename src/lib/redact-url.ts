/** A connection URL without its password, fit for a log line; `name` stands in for a URL that does not parse. */
export function redactUrl(url: string, name: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return `<invalid ${name}>`
  }
}

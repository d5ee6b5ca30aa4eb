import { useEffect, useState } from 'react'

/**
 * The token of a mailed link (`?token=`), then taken out of the address bar: it stays out of the history, out of
 * bookmarks and out of a screenshot of the page.
 */
export function useMailedToken(): string | null {
  const [token] = useState(() => new URLSearchParams(window.location.search).get('token'))
  useEffect(() => {
    const url = new URL(window.location.href)
    if (!url.searchParams.has('token')) return
    url.searchParams.delete('token')
    window.history.replaceState(window.history.state, '', url.pathname + url.search)
  }, [])
  return token
}

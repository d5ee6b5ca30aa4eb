import { useEffect, useState } from 'react'
import { api } from '../api/client'
import { useMe } from '../session'

/** The source documents' dashboard: a greeting, and a counter kept in the session (POST /api/count). */
export function DashboardPage() {
  const { user } = useMe()
  const [count, setCount] = useState<number | null>(null)
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    document.title = 'Dashboard'
  }, [])

  async function countOnce() {
    setBusy(true)
    const { data } = await api.POST('/api/count')
    setBusy(false)
    if (data) setCount(data.views)
  }

  return (
    <>
      <h1>Welcome, {user.username}</h1>
      <section aria-labelledby="counter">
        <h2 id="counter">Counter</h2>
        <p>The count is kept in your session, on the server: it is the same in every tab.</p>
        <p role="status" aria-live="polite">{count === null ? 'Not counted yet.' : `Count: ${count}`}</p>
        <button type="button" onClick={() => void countOnce()} disabled={busy}>Count</button>
      </section>
    </>
  )
}

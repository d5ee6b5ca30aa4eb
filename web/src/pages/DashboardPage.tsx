import { useEffect, useState } from 'react'
import { api } from '../api/client'
import { useMe } from '../session'

/** The source documents' dashboard: a greeting, and a counter kept in the session (POST /api/count). */
export function DashboardPage() {
  const { user } = useMe()
  const [count, setCount] = useState<number | null>(null)
  useEffect(() => {
    document.title = 'Dashboard'
  }, [])

  // Presses may overlap (the count is exact under concurrency): the highest answer is the latest count.
  async function countOnce() {
    const { data } = await api.POST('/api/count')
    if (data) setCount((shown) => Math.max(shown ?? 0, data.views))
  }

  return (
    <>
      <h1>Welcome, {user.username}</h1>
      <section aria-labelledby="counter">
        <h2 id="counter">Counter</h2>
        <p>The count is kept in your session, on the server: it is the same in every tab.</p>
        <p role="status" aria-live="polite">{count === null ? 'Not counted yet.' : `Count: ${count}`}</p>
        <button type="button" onClick={() => void countOnce()}>Count</button>
      </section>
    </>
  )
}

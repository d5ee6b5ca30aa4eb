/** While a page or its data is on its way: announced to screen readers as a status. */
export function Loading() {
  return <p role="status" className="loading">Loading…</p>
}

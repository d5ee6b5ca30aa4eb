import { useId, type InputHTMLAttributes, type ReactNode } from 'react'

/** A labelled input: its label is its accessible name, which is how people and tests find it. */
export function Field({ label, hint, ...input }: { label: string; hint?: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId()
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={hint ? `${id}-hint` : undefined} {...input} />
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  )
}

/** An error, announced to screen readers when it appears. */
export function ErrorMessage({ children }: { children: ReactNode }) {
  return children ? <p role="alert" className="error">{children}</p> : null
}

/** A success or a notice, announced politely. */
export function Notice({ children }: { children: ReactNode }) {
  return children ? <p role="status" className="notice">{children}</p> : null
}

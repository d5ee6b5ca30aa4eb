/** How long a session may sit unused (idle) and live at all (absolute), in milliseconds. */
export interface SessionLimits {
  idleMs: number
  absoluteMs: number
}

export interface SessionTimeouts {
  standard: SessionLimits
  /** For sessions created with "remember me". */
  remember: SessionLimits
  /** Sliding the expiry costs a Redis write; it is done at most this often per session. */
  touchIntervalMs: number
}

/** What the timeouts need to know of a session. */
export interface SessionTiming {
  createdAt?: number
  remember?: boolean
}

export function limitsOf(timeouts: SessionTimeouts, { remember }: SessionTiming): SessionLimits {
  return remember ? timeouts.remember : timeouts.standard
}

/** When a session seen at `seenAt` ends: one idle period later, but never past its creation plus the absolute limit. */
export function expiryAfter(timeouts: SessionTimeouts, session: SessionTiming, seenAt: number): number {
  const { idleMs, absoluteMs } = limitsOf(timeouts, session)
  return Math.min(seenAt + idleMs, (session.createdAt ?? seenAt) + absoluteMs)
}

/** Whether the absolute limit has passed, whatever the idle expiry says (e.g. after the limit was lowered). */
export function pastAbsoluteLimit(timeouts: SessionTimeouts, session: SessionTiming, now: number): boolean {
  return session.createdAt !== undefined && now >= session.createdAt + limitsOf(timeouts, session).absoluteMs
}

/**
 * The new expiry when sliding is due, else null. The expiry was last set one idle period after the last touch, so
 * that touch is `idleMs` before it: sliding is due once a touch interval has passed since, and only while it still
 * moves the expiry (not once the absolute limit caps it). So a session is written at most once per touch interval.
 */
export function slidExpiry(timeouts: SessionTimeouts, session: SessionTiming, expiresAt: number, now: number): number | null {
  const lastTouch = expiresAt - limitsOf(timeouts, session).idleMs
  const next = expiryAfter(timeouts, session, now)
  return now - lastTouch >= timeouts.touchIntervalMs && next > expiresAt ? next : null
}

/**
 * What the service mails, as pure functions from a mail's data to its subject, plain text and HTML. Links carry a
 * token and are built from PUBLIC_URL by the caller, never from a request's Host header.
 */
import { WEB_APP_PAGES } from '../lib/web-pages.js'

/** A mail as it waits in the queue; a link's token is sealed there (see accounts/mail.ts). */
export type QueuedMail =
  | { template: 'verify-email'; to: string; username: string; sealedToken: string; othersHoldIt?: boolean }
  | { template: 'password-reset'; to: string; username: string; sealedToken: string }
  | { template: 'password-changed'; to: string; username: string }
  | { template: 'email-change-requested'; to: string; username: string; newEmail: string }
  | { template: 'address-in-use'; to: string }
  | { template: 'new-sign-in'; to: string; username: string; browser: string | null; address: string | null; at: string; accountUrl: string }

export type MailTemplate = QueuedMail['template']

/** Where each link-carrying mail leads, under PUBLIC_URL: the web app's page there posts the token to the API. */
export const LINK_PATHS = { 'verify-email': WEB_APP_PAGES.verifyEmail, 'password-reset': WEB_APP_PAGES.resetPassword } as const

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

interface Content {
  subject: string
  paragraphs: string[]
  link?: { label: string; url: string }
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)

function render({ subject, paragraphs, link }: Content): RenderedMail {
  const text = [...paragraphs, ...(link ? [`${link.label}: ${link.url}`] : [])].join('\n\n')
  const body = paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`)
  if (link) body.push(`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`)
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>${body.join('')}</body></html>`
  return { subject, text, html }
}

/** `link` is the page the mail leads to, with its token, for the templates in LINK_PATHS. */
export function renderMail(mail: QueuedMail, service: string, link: string | null): RenderedMail {
  const ignore = 'If this was not you, you can ignore this mail.'
  switch (mail.template) {
    case 'verify-email':
      return render({
        subject: `Confirm your email address for ${service}`,
        paragraphs: [
          `Hello ${mail.username},`,
          `confirm that this address belongs to your ${service} account. The link works once, for 24 hours.`,
          ...(mail.othersHoldIt
            ? [`Other ${service} accounts gave this address too. If "${mail.username}" is not your account, do not follow this link: ask for a new confirmation link naming your own username, which reaches that account alone.`]
            : []),
          ignore,
        ],
        link: { label: 'Confirm this address', url: link! },
      })
    case 'password-reset':
      return render({
        subject: `Reset your ${service} password`,
        paragraphs: [
          `Hello ${mail.username},`,
          'someone (we hope you) asked to reset the password of your account. The link works once, for 30 minutes. Choosing a new password logs you out everywhere; with two-factor login on, you will need a code from your authenticator app (or a recovery code) too.',
          `${ignore} Your password stays as it is.`,
        ],
        link: { label: 'Choose a new password', url: link! },
      })
    case 'password-changed':
      return render({
        subject: `Your ${service} password was changed`,
        paragraphs: [
          `Hello ${mail.username},`,
          'the password of your account was just reset, and every session and access token of yours was ended.',
          'If this was not you, reset your password again at once and contact us: someone may have access to your mailbox.',
        ],
      })
    case 'email-change-requested':
      return render({
        subject: `A new email address was requested for your ${service} account`,
        paragraphs: [
          `Hello ${mail.username},`,
          `someone logged in to your account asked to change its email address to ${mail.newEmail}. It changes once that address is confirmed.`,
          'If this was not you, take the change back (your account settings, or DELETE /auth/email/pending), change your password and end your other sessions now.',
        ],
      })
    case 'new-sign-in':
      return render({
        subject: `A new sign-in to your ${service} account`,
        paragraphs: [
          `Hello ${mail.username},`,
          `your account was just signed in to from a browser it had not been used from before: ${mail.browser ?? 'an unknown browser'}, from the address ${mail.address ?? 'unknown'}, at ${mail.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}.`,
          `If this was you, there is nothing to do. If it was not, open your account page, end every session there and change your password: ${mail.accountUrl}`,
        ],
      })
    case 'address-in-use':
      return render({
        subject: `Your email address was given for a ${service} account`,
        paragraphs: [
          `Someone gave this address for a new ${service} account, but it already belongs to an account. If that was you and you have forgotten your password, use "Forgot password" to reset it.`,
          ignore,
        ],
      })
  }
}

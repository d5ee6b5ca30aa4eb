/**
 * The web app's page paths: the service answers each with the app's HTML (platform/http/web-app.ts), and the app's
 * router shows a page for each (web/src/App.tsx). Any other path keeps the API's JSON answers, 404s included.
 */
export const WEB_APP_PAGES = {
  home: '/',
  login: '/login',
  register: '/register',
  dashboard: '/dashboard',
  account: '/account',
  verifyEmail: '/verify-email',
  forgotPassword: '/forgot-password',
  resetPassword: '/reset-password',
  users: '/users',
} as const

export type WebAppPage = (typeof WEB_APP_PAGES)[keyof typeof WEB_APP_PAGES]

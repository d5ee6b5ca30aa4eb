// What both the tests and the bench send as a browser would, so that they measure the same requests.

/** What a desktop browser sends (117 characters): what sessions store and list, at its realistic size. */
export const BROWSER_USER_AGENT = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/**
 * The console's Content-Security-Policy: scripts only from the console itself or carrying the
 * per-request nonce (Next.js puts it on its own inline scripts when it finds it in the request's
 * CSP header; the root layout puts it on the theme script), no plugins, no framing, no foreign
 * form targets. Inline style attributes stay allowed (the UI sets widths of progress bars so).
 */
export function contentSecurityPolicy(nonce: string, opts: { dev?: boolean } = {}): string {
  return [
    `default-src 'self'`,
    // `strict-dynamic`: scripts loaded by a trusted script are trusted; React's dev build needs eval.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? ` 'unsafe-eval'` : ''}`,
    `style-src 'self' 'unsafe-inline'`,
    `img-src 'self' blob: data:`,
    `font-src 'self'`,
    `connect-src 'self'`,
    `object-src 'none'`,
    `base-uri 'self'`,
    `form-action 'self'`,
    `frame-ancestors 'none'`,
  ].join('; ');
}

/** A fresh nonce: 128 random bits, base64. */
export function newNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

/** Whether the console is reached over TLS: the proxy says so, or the configured URL is https. */
export function servedOverTls(
  forwardedProto: string | null,
  configuredUrl = process.env.TANDEM_URL,
): boolean {
  return forwardedProto?.split(',')[0]?.trim() === 'https' || /^https:\/\//i.test(configuredUrl ?? '');
}

export const HSTS = 'max-age=31536000; includeSubDomains';

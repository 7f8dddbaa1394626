import { expect, test } from '@playwright/test';

/*
 * Every page carries a Content-Security-Policy with a fresh nonce; Next.js's own scripts and the
 * theme script carry it and run (the page hydrates, the theme applies), and the browser reports no
 * violation.
 */
test('pages have a nonce-based CSP, their scripts run, and nothing is refused', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (execute|load|apply)/i.test(m.text())) violations.push(m.text());
  });
  page.on('pageerror', (e) => violations.push(e.message));

  const first = await page.goto('/login');
  const csp = first!.headers()['content-security-policy'] ?? '';
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]{24}' 'strict-dynamic'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("object-src 'none'");
  const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
  // Every inline script of the page carries this request's nonce.
  const scripts = await page
    .locator('script:not([src])')
    .evaluateAll((els) => els.map((e) => (e as HTMLScriptElement).nonce));
  expect(scripts.length).toBeGreaterThan(0);
  for (const n of scripts) expect(n).toBe(nonce);

  // A second request gets another nonce.
  const again = await page.request.get('/login');
  expect(again.headers()['content-security-policy']).not.toContain(nonce);

  // The theme script ran: a stored dark theme applies before the page paints.
  await page.evaluate(() => localStorage.setItem('tandem-theme', 'dark'));
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/dark/);
  // The page hydrated: typing into its controlled inputs works.
  await page.getByLabel('Username').fill('someone');
  await expect(page.getByLabel('Username')).toHaveValue('someone');
  await page.evaluate(() => localStorage.removeItem('tandem-theme'));

  expect(violations).toEqual([]);
});

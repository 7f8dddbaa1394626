import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';

/** The page's serious or critical accessibility violations (axe-core), one line each; minor ones do not fail a test. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // The pointer off the page first: a row left hovered by the last click is checked in its hover
  // colours, which are not what the page shows at rest.
  await page.mouse.move(0, 0);
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

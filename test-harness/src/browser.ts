/**
 * A real headless Chromium for the operator page's tests and benchmark: Debian's package (installed once when
 * missing), driven by playwright-core — `npx playwright install` cannot download here, and needs not.
 */
import { chromium, type Browser } from 'playwright-core';
import { commandsFrom } from './debian-packages.ts';

export async function launchChromium(): Promise<Browser> {
  const [executablePath = ''] = await commandsFrom('chromium', ['chromium']);
  // As root Chromium refuses its sandbox; these tests only ever open our own page on loopback.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath, args, headless: true, timeout: 60_000 });
}

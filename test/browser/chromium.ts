/**
 * The one way the browser tests start Chromium: Debian's `chromium` (/usr/bin/chromium, or
 * $CHROMIUM_PATH) through playwright-core, headless, with a persistent profile in a folder of the
 * test's choosing and the flags that keep it offline and quiet.
 */
import { existsSync } from 'node:fs';
import { type BrowserContext, chromium } from 'playwright-core';

/** Where Chromium is looked for. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Whether it is there (the browser tests skip cleanly without it). */
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts Chromium with a profile in `profileDir`, a viewport, and `extraArgs` after the common flags. */
export function launchChromium(
  profileDir: string,
  viewport: { width: number; height: number },
  extraArgs: string[] = [],
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport,
  });
}

import { launchChromium } from './src/browser.ts';
import { startCluster } from './src/cluster.ts';
const cluster = await startCluster([[{ id: 'demo', slots: 2 }]]);
const browser = await launchChromium();
try {
  const tabs = await browser.newContext();
  for (let i = 0; i < 4; i += 1) {
    const page = await tabs.newPage();
    const cdp = await tabs.newCDPSession(page);
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await page.goto(`${cluster.url}/ui`);
    await page.waitForSelector('body[data-overview-at]', { timeout: 30_000 });
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
      return {
        nav: [nav.requestStart, nav.responseEnd, nav.domInteractive, nav.domContentLoadedEventEnd].map(Math.round),
        marks: ['llorch:main', 'llorch:first-event', 'llorch:first-overview'].map((n) => Math.round(performance.getEntriesByName(n)[0]?.startTime ?? NaN)),
        res: res.map((e) => `${e.name.split('/ui/')[1] ?? e.name}:${Math.round(e.startTime)}-${Math.round(e.requestStart)}-${Math.round(e.responseEnd)}`),
      };
    });
    console.log(JSON.stringify(t));
    await page.close();
  }
} finally {
  await browser.close();
  await cluster.cleanup();
}

// Opens URL in headless Chromium (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH) and prints the page's #result once it is filled.
import { chromium } from "playwright-core";

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error(`console: ${m.text()}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("result")?.textContent, null, {
    timeout: 20000,
  });
  console.log(await page.textContent("#result"));
} finally {
  await browser.close();
}

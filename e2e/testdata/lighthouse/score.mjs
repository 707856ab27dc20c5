// Scores each URL given for accessibility and best practices with
// Lighthouse, as its CLI would (a phone, the default), in one headless
// Chromium (CHROME_PATH), and prints one JSON line: per page its scores
// out of 100, the audits that fell short with their first items, and how
// long it took.
import lighthouse from "lighthouse";
import * as chromeLauncher from "chrome-launcher";

const urls = process.argv.slice(2);
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--lang=en-US"],
});
const pages = [];
try {
  for (const url of urls) {
    const began = Date.now();
    const { lhr } = await lighthouse(url, {
      port: chrome.port,
      output: "json",
      logLevel: "error",
      onlyCategories: ["accessibility", "best-practices"],
    });
    const short = Object.values(lhr.audits)
      .filter((a) => (a.scoreDisplayMode === "error" || (a.score !== null && a.score < 1)) && !["informative", "notApplicable", "manual"].includes(a.scoreDisplayMode))
      .map((a) => ({
        id: a.id,
        title: a.title + (a.errorMessage ? ": " + a.errorMessage : ""),
        items: ((a.details && a.details.items) || []).slice(0, 5).map((i) =>
          (i.node && (i.node.snippet + " " + (i.node.explanation || ""))) || i.description || i.url || JSON.stringify(i).slice(0, 300)),
      }));
    pages.push({
      url,
      seconds: (Date.now() - began) / 1000,
      scores: Object.fromEntries(Object.values(lhr.categories).map((c) => [c.id, Math.round(c.score * 100)])),
      short,
      error: lhr.runtimeError ? lhr.runtimeError.message : "",
    });
  }
} finally {
  await chrome.kill();
}
console.log(JSON.stringify(pages));

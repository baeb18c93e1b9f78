/**
 * Reading an HTML table the way a reader does, by its column headers: `tableRecords(html)` gives one
 * record per body row, each cell under its header's text, so that tests do not depend on which
 * optional columns (precision, batch norm, where the frozen layers' output was kept) a table shows.
 */
import { JSDOM } from "jsdom";

/** The body rows of the first table in `html`, each as { header text: cell text }. */
export function tableRecords(html: string): Array<Record<string, string>> {
  const doc = new JSDOM(html).window.document;
  const heads = [...doc.querySelectorAll("thead th")].map((th) => th.textContent ?? "");
  return [...doc.querySelectorAll("tbody tr")].map((tr) =>
    Object.fromEntries([...tr.querySelectorAll("td")].map((td, i) => [heads[i] ?? String(i), td.textContent ?? ""])),
  );
}

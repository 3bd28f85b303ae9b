// Print the text layer of a PDF as pdf.js (Firefox's viewer) gives it:
// the text items of each page in order, a line break where pdf.js ends a line.
//   node extract.mjs FILE.pdf [FIRST LAST]
import { readFile } from "node:fs/promises";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";

const data = new Uint8Array(await readFile(process.argv[2]));
const pdf = await getDocument({ data, verbosity: 0 }).promise;
const first = Number(process.argv[3] || 1);
const last = Number(process.argv[4] || pdf.numPages);
for (let number = first; number <= last; number++) {
  const page = await pdf.getPage(number);
  const content = await page.getTextContent();
  let line = "";
  for (const item of content.items) {
    line += item.str;
    if (item.hasEOL) {
      console.log(line);
      line = "";
    }
  }
  if (line) console.log(line);
}

// Print the text layer of a PDF as pdf.js (Firefox's viewer) gives it:
// the text items of each page in order, a line break where pdf.js ends a line.
import { readFile } from "node:fs/promises";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";

const data = new Uint8Array(await readFile(process.argv[2]));
const pdf = await getDocument({ data, verbosity: 0 }).promise;
for (let number = 1; number <= pdf.numPages; number++) {
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

// Print a PDF's text as Apache PDFBox 2 reads it (PDFTextStripper with its defaults, as
// PDFBox's own ExtractText without -sort, and Apache Tika, give it).  Run as a
// single-file program: java -cp <Debian's pdfbox2, fontbox2 and commons-logging jars>
// ExtractText.java FILE.pdf [FIRST LAST]
import java.io.File;
import java.io.PrintStream;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.text.PDFTextStripper;

public class ExtractText {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        try (PDDocument document = PDDocument.load(new File(args[0]))) {
            PDFTextStripper stripper = new PDFTextStripper();
            if (args.length > 2) {
                stripper.setStartPage(Integer.parseInt(args[1]));
                stripper.setEndPage(Integer.parseInt(args[2]));
            }
            out.print(stripper.getText(document));
        }
    }
}

package cmextest

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// PDFText returns the text of a PDF as poppler-utils' pdftotext lays it
// out. Where pdftotext is missing the test is skipped saying so, or fails
// when CMEX_TEST_BROWSER_REQUIRED is set (as CI sets it).
func PDFText(tb testing.TB, pdf []byte) string {
	tb.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CMEX_TEST_BROWSER_REQUIRED") != "" {
			tb.Fatal("no pdftotext on PATH, and CMEX_TEST_BROWSER_REQUIRED is set")
		}
		tb.Skip("PDF text check skipped: no pdftotext on PATH (apt-get install poppler-utils)")
	}
	cmd := exec.Command(bin, "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

package cmextest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PDFImages returns the images of a PDF as PNG files, extracted by
// poppler's pdfimages; it skips without it, unless
// CMEX_TEST_BROWSER_REQUIRED is set (CI installs poppler-utils with the
// browser).
func PDFImages(tb testing.TB, pdf []byte) [][]byte {
	tb.Helper()
	bin, err := exec.LookPath("pdfimages")
	if err != nil {
		if os.Getenv("CMEX_TEST_BROWSER_REQUIRED") != "" {
			tb.Fatal("no pdfimages on PATH, and CMEX_TEST_BROWSER_REQUIRED is set")
		}
		tb.Skip("PDF image check skipped: no pdfimages on PATH (apt-get install poppler-utils)")
	}
	dir := tb.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-png", in, filepath.Join(dir, "img"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("pdfimages: %v\n%s", err, stderr.String())
	}
	names, _ := filepath.Glob(filepath.Join(dir, "img-*.png"))
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

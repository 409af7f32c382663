package portal

import (
	qrcode "github.com/skip2/go-qrcode"
)

// qrPNG draws text (a URL) as a QR code, size pixels square, with medium
// error correction (15% of it may be lost or smudged, as on paper) and
// the quiet zone around it that scanners need.
func qrPNG(text string, size int) ([]byte, error) {
	return qrcode.Encode(text, qrcode.Medium, size)
}

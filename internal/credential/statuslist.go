package credential

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"

	"github.com/cmexhub/cmex"
)

// StatusIndex is where a record's credential is in the status lists:
// list number (from 1) and bit index.
func StatusIndex(id cmex.LearnerRecordID) (list, index int) {
	return int(int64(id)/cmex.GuessStatusListSize) + 1, int(int64(id) % cmex.GuessStatusListSize)
}

// encodeList is a Bitstring Status List's encodedList: the bitstring
// (bit 0 the most significant bit of the first byte) gzipped, in
// multibase base64url without padding ('u').
func encodeList(set []int, size int) (string, error) {
	bits := make([]byte, size/8)
	for _, i := range set {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(bits); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// decodeList reads an encodedList back into its bitstring.
func decodeList(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != 'u' {
		return nil, errors.New("encodedList is not multibase base64url")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[1:])
	if err != nil {
		return nil, errors.New("encodedList is not base64url")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("encodedList is not gzip")
	}
	return io.ReadAll(io.LimitReader(zr, 16<<20))
}

// DecodeList reads an encodedList back into its bitstring (bit 0 the most
// significant bit of the first byte).
func DecodeList(s string) ([]byte, error) { return decodeList(s) }

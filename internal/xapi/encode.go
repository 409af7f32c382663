package xapi

import (
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// encodeJSON encodes a decoded JSON value (maps, slices, strings,
// json.Numbers, bools, nil) exactly as json.Marshal does (keys sorted,
// <, > and & escaped, invalid UTF-8 replaced), without its reflection:
// every statement is encoded twice (its signature's canonical form, and
// as stored), which made json.Marshal a tenth of a request's CPU. A value
// of another type is left to json.Marshal.
func encodeJSON(x any) ([]byte, error) {
	b, ok := appendJSON(make([]byte, 0, 1024), x)
	if !ok {
		return json.Marshal(x)
	}
	return b, nil
}

// appendJSON appends x's encoding to dst, or reports false when x holds a
// value of a type it does not encode.
func appendJSON(dst []byte, x any) ([]byte, bool) {
	switch t := x.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, t), true
	case json.Number:
		if t == "" {
			return append(dst, '0'), true
		}
		if !json.Valid([]byte(t)) || !isNumber(string(t)) {
			return dst, false // json.Marshal's error, then
		}
		return append(dst, t...), true
	case bool:
		if t {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case map[string]any:
		if t == nil {
			return append(dst, "null"...), true
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendJSON(dst, t[k]); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case []any:
		if t == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, v := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSON(dst, v); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// isNumber tells a number from the other values json.Valid accepts: it
// begins with - or a digit, and ends with a digit (no space around it).
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	c, z := s[0], s[len(s)-1]
	return (c == '-' || (c >= '0' && c <= '9')) && z >= '0' && z <= '9'
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding, HTML escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

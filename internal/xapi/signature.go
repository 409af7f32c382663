package xapi

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// signatureUsage is the usageType of a signed statement's JWS attachment.
const signatureUsage = "http://adlnet.gov/expapi/attachments/signature"

// checkSignature checks a signed statement's JWS (compact form): an RS
// algorithm, and a payload that is the statement as signed. The RSA
// signature itself is not verified: the spec leaves trusting the key to
// the reader, and cmex has no keys to trust.
func checkSignature(st map[string]any, jws []byte) error {
	parts := strings.Split(strings.TrimSpace(string(jws)), ".")
	if len(parts) != 3 {
		return badRequest("the signature is not a compact JWS")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	_, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return badRequest("the signature is not a compact JWS")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &header) != nil {
		return badRequest("the signature's header is not JSON")
	}
	switch header.Alg {
	case "RS256", "RS384", "RS512":
	default:
		return badRequest("the signature's algorithm must be RS256, RS384 or RS512")
	}
	x, err := decodeJSON(pb)
	if err != nil {
		return badRequest("the signature's payload is not a statement")
	}
	payload, ok := x.(map[string]any)
	if !ok {
		return badRequest("the signature's payload is not a statement")
	}
	if signedForm(payload) != signedForm(st) {
		return badRequest("the signature's payload differs from the statement")
	}
	return nil
}

// signedForm is a statement's signature without its attachments, which
// the signed payload lacks (the JWS among them) or may list differently.
func signedForm(m map[string]any) string {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != "attachments" {
			c[k] = v
		}
	}
	id, _ := m["id"].(string)
	return strings.ToLower(id) + signature(c)
}

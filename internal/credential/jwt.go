package credential

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// jwtHeader is a VC-JOSE-COSE protected header: alg EdDSA, typ vc+jwt,
// kid the DID URL of the signing key.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

var b64 = base64.RawURLEncoding

// signJWT secures a credential as a compact JWS whose payload is the
// credential itself.
func signJWT(credential []byte, key ed25519.PrivateKey, kid string) (string, error) {
	h, err := json.Marshal(jwtHeader{Alg: "EdDSA", Typ: "vc+jwt", Kid: kid})
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(credential)
	return input + "." + b64.EncodeToString(ed25519.Sign(key, []byte(input))), nil
}

// parsedJWT is a compact JWS split into its parts.
type parsedJWT struct {
	header  jwtHeader
	payload []byte
	input   string
	sig     []byte
}

// parseJWT splits and decodes a compact JWS; it checks nothing but form.
func parseJWT(s string) (*parsedJWT, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("a JWT has three parts separated by dots")
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errors.New("a JWT's parts are base64url without padding")
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errors.New("the JWT header is not JSON")
	}
	return &parsedJWT{header: h, payload: pb, input: parts[0] + "." + parts[1], sig: sig}, nil
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

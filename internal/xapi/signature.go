package xapi

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// signatureUsage is the usageType of a signed statement's JWS attachment.
const signatureUsage = "http://adlnet.gov/expapi/attachments/signature"

// checkSignature checks a signed statement's JWS (compact form): an RS
// algorithm, a payload that is the statement as signed and, when the
// header carries the signer's certificate (x5c), the RSA signature by its
// key. Whether to trust that certificate is the reader's to judge: cmex
// has no keys to trust, so a JWS without x5c is not verified.
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
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	if json.Unmarshal(hb, &header) != nil {
		return badRequest("the signature's header is not JSON")
	}
	switch header.Alg {
	case "RS256", "RS384", "RS512":
	default:
		return badRequest("the signature's algorithm must be RS256, RS384 or RS512")
	}
	if len(header.X5C) > 0 {
		if err := verifyRS(header.Alg, header.X5C[0], parts[0]+"."+parts[1], parts[2]); err != nil {
			return badRequest("the signature does not verify: %v", err)
		}
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

// verifyRS checks an RS256/384/512 signature of signed by the key of a
// certificate (x5c: standard base64 DER).
func verifyRS(alg, x5c, signed, sig string) error {
	der, err := base64.StdEncoding.DecodeString(x5c)
	if err != nil {
		return errors.New("x5c is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return errors.New("x5c is not a certificate")
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate's key is not RSA")
	}
	hash := map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}[alg]
	h := hash.New()
	h.Write([]byte(signed))
	raw, _ := base64.RawURLEncoding.DecodeString(sig)
	return rsa.VerifyPKCS1v15(key, hash, h.Sum(nil), raw)
}

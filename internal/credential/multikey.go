package credential

import (
	"crypto/ed25519"
	"errors"
	"math/big"
	"strings"
)

// The multicodec prefix of an Ed25519 public key (0xed, as a varint), so a
// Multikey's publicKeyMultibase reads z6Mk….
var ed25519Prefix = []byte{0xed, 0x01}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58 encodes b in the Bitcoin alphabet, leading zero bytes as '1'.
func base58(b []byte) string {
	n := new(big.Int).SetBytes(b)
	var out []byte
	mod, radix := new(big.Int), big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

var errBase58 = errors.New("not base58btc")

// unbase58 decodes what base58 encodes.
func unbase58(s string) ([]byte, error) {
	n := new(big.Int)
	radix := big.NewInt(58)
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	for _, c := range []byte(s) {
		i := strings.IndexByte(base58Alphabet, c)
		if i < 0 {
			return nil, errBase58
		}
		n.Mul(n, radix).Add(n, big.NewInt(int64(i)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}

// multibase is b in multibase base58btc ('z' and base58).
func multibase(b []byte) string { return "z" + base58(b) }

// unmultibase decodes a base58btc multibase value.
func unmultibase(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "z")
	if !ok {
		return nil, errors.New("not multibase base58btc (want a leading z)")
	}
	return unbase58(rest)
}

// PublicKeyMultibase is the Multikey form of an Ed25519 public key: z6Mk….
func PublicKeyMultibase(pub ed25519.PublicKey) string {
	return multibase(append(append([]byte{}, ed25519Prefix...), pub...))
}

// ParsePublicKeyMultibase reads an Ed25519 Multikey's publicKeyMultibase.
func ParsePublicKeyMultibase(s string) (ed25519.PublicKey, error) {
	b, err := unmultibase(s)
	if err != nil {
		return nil, err
	}
	if len(b) != 2+ed25519.PublicKeySize || b[0] != ed25519Prefix[0] || b[1] != ed25519Prefix[1] {
		return nil, errors.New("not an Ed25519 Multikey")
	}
	return ed25519.PublicKey(b[2:]), nil
}

// DIDKey is the did:key of an Ed25519 public key.
func DIDKey(pub ed25519.PublicKey) string { return "did:key:" + PublicKeyMultibase(pub) }

// DIDKeyMethod is the verification method of a did:key: the DID with its
// own multibase as fragment.
func DIDKeyMethod(pub ed25519.PublicKey) string {
	mb := PublicKeyMultibase(pub)
	return "did:key:" + mb + "#" + mb
}

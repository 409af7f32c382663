package sqlstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretBox encrypts secrets at rest with AES-256-GCM under a server key.
// Ciphertexts are "v1:" and base64 of nonce and sealed data.
type SecretBox struct{ aead cipher.AEAD }

// MinSecretKey is the shortest server key accepted.
const MinSecretKey = 16

// NewSecretBox derives the AES key from the server key (SHA-256 of it, so
// any high-entropy string of at least MinSecretKey bytes will do).
func NewSecretBox(key string) (*SecretBox, error) {
	if len(key) < MinSecretKey {
		return nil, fmt.Errorf("the secret key must have at least %d characters", MinSecretKey)
	}
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plaintext; additional binds it to its row.
func (b *SecretBox) Seal(plaintext []byte, additional string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := b.aead.Seal(nonce, nonce, plaintext, []byte(additional))
	return "v1:" + base64.StdEncoding.EncodeToString(sealed), nil
}

var errSecret = errors.New("a stored secret cannot be decrypted with this server key")

// Open decrypts what Seal made with the same additional data.
func (b *SecretBox) Open(s, additional string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, "v1:")
	if !ok {
		return nil, errSecret
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return nil, errSecret
	}
	out, err := b.aead.Open(nil, data[:b.aead.NonceSize()], data[b.aead.NonceSize():], []byte(additional))
	if err != nil {
		return nil, errSecret
	}
	return out, nil
}

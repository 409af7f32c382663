package credential

import (
	"embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/piprate/json-gold/ld"
)

// The JSON-LD contexts a credential cmex issues or verifies may use, as
// vendored from their publishers (see contexts/SOURCES.md). They are the
// only documents the loader serves: nothing is fetched at run time.
//
//go:embed contexts/*.json contexts/*.jsonld
var contextFiles embed.FS

// Context URLs, in the order a credential lists them.
const (
	ContextVC = "https://www.w3.org/ns/credentials/v2"
	ContextOB = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
)

// contextPaths maps each served URL to its embedded file.
var contextPaths = map[string]string{
	ContextVC: "contexts/credentials-v2.jsonld",
	ContextOB: "contexts/ob-context-3.0.3.json",
}

// Contexts returns the embedded contexts by URL, for a verifier (or a
// test) that needs the very bytes cmex uses.
func Contexts() map[string][]byte {
	out := map[string][]byte{}
	for u, p := range contextPaths {
		b, err := contextFiles.ReadFile(p)
		if err != nil {
			panic(err) // embedded at build time
		}
		out[u] = b
	}
	return out
}

// offlineLoader is a json-gold DocumentLoader that serves only the
// embedded contexts: any other URL is an error, so a credential naming a
// context cmex does not hold cannot make it fetch anything.
type offlineLoader struct {
	docs map[string]*ld.RemoteDocument
}

var (
	loaderOnce sync.Once
	theLoader  *offlineLoader
)

// loader returns the shared offline loader; its documents are parsed once.
func loader() *offlineLoader {
	loaderOnce.Do(func() {
		l := &offlineLoader{docs: map[string]*ld.RemoteDocument{}}
		for u, b := range Contexts() {
			var doc any
			if err := json.Unmarshal(b, &doc); err != nil {
				panic(fmt.Sprintf("embedded context %s: %v", u, err))
			}
			l.docs[u] = &ld.RemoteDocument{DocumentURL: u, Document: doc}
		}
		theLoader = l
	})
	return theLoader
}

// LoadDocument implements ld.DocumentLoader.
func (l *offlineLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	if d, ok := l.docs[u]; ok {
		return d, nil
	}
	return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Sprintf("context %s is not one cmex holds (it fetches none)", u))
}

package pars_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// BenchmarkSaveActivity measures a whole SaveActivity Add through the
// handler on SQLite: envelope, authentication with the production argon2id
// parameters, decoding, every rule, the transaction with its revision, and
// the normalised response.
func BenchmarkSaveActivity(b *testing.B) {
	for _, hashing := range []string{"argon2id-default", "argon2id-cheap"} {
		b.Run(hashing, func(b *testing.B) {
			store := cmextest.NewStore(b, today)
			if hashing == "argon2id-default" {
				store.DB.Hasher = sqlstore.DefaultPasswordHasher()
				if err := store.Users.SetWebServiceUserPassword(b.Context(), 1, "webserviceuser@yourdomain.org", cmextest.Password); err != nil {
					b.Fatal(err)
				}
			}
			mux := http.NewServeMux()
			(&pars.Handler{Users: store.Users, Activities: store.Activities, Logger: slog.New(slog.DiscardHandler)}).Register(mux)
			doc, err := os.ReadFile("testdata/save/live-course-full.xml")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d := strings.Replace(string(doc), "ANES-2025-03", fmt.Sprintf("bench-%d", i), 1)
				req := httptest.NewRequest(http.MethodPost, pars.PathSaveActivity,
					bytes.NewReader(submitMessage(pars.NSService, d, cmextest.Password, "1234567", "2025", "webserviceuser@yourdomain.org")))
				req.Header.Set("Content-Type", "application/xml")
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				if !strings.Contains(rec.Body.String(), "<StatusCode>Accepted</StatusCode>") {
					b.Fatalf("not accepted: %s", rec.Body.String())
				}
			}
		})
	}
}

// BenchmarkValidateDocument measures decoding and the data rules alone, as
// cmex validate runs them, on the full live-course document.
func BenchmarkValidateDocument(b *testing.B) {
	doc, err := os.ReadFile("testdata/save/live-course-full.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if ps := pars.ValidateDocument(doc, pars.Strict, cmex.DateOf(today)); ps.HasErrors() {
			b.Fatal(ps)
		}
	}
}

// BenchmarkPasswordCheck measures one argon2id check at the production
// cost, as every call paid before successful checks were remembered (a
// wrong password is never remembered, so each iteration pays it).
func BenchmarkPasswordCheck(b *testing.B) {
	h := sqlstore.DefaultPasswordHasher()
	hash, err := h.Hash(cmextest.Password)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Verify(hash, "not the password"); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

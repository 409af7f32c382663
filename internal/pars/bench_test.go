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
			benchSaveActivity(b, store, store.Users)
		})
	}
}

// BenchmarkSaveActivityGuarded is BenchmarkSaveActivity with cheap hashing
// and the login guard cmex serve wraps users in, whose state is this
// process's alone (memory) or shared with other replicas through the
// database (shared, as cmex serve has it): a successful sign-in decides
// from the replica's copy, read again once a second.
func BenchmarkSaveActivityGuarded(b *testing.B) {
	for _, state := range []string{"memory", "shared"} {
		b.Run(state, func(b *testing.B) {
			store := cmextest.NewStore(b, today)
			guard := cmex.DefaultLoginGuard()
			if state == "shared" {
				guard.Store = sqlstore.NewGuardStore(store.DB)
			}
			benchSaveActivity(b, store, cmex.Guarded{Guard: guard}.Users(store.Users))
		})
	}
}

// benchSaveActivity measures SaveActivity Adds of new activities through
// the handler, signing in through users.
func benchSaveActivity(b *testing.B, store *cmextest.Store, users cmex.UserService) {
	mux := http.NewServeMux()
	(&pars.Handler{Users: users, Activities: store.Activities, Logger: slog.New(slog.DiscardHandler)}).Register(mux)
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

// BenchmarkGuardedSignIn measures the sign-in of every PARS call alone, a
// remembered password through the login guard, from parallel clients: the
// guard's state in this process (memory), or shared through the database
// (shared), where a success costs the database nothing more while the
// replica's copy is fresh.
func BenchmarkGuardedSignIn(b *testing.B) {
	for _, state := range []string{"memory", "shared"} {
		b.Run(state, func(b *testing.B) {
			store := cmextest.NewStore(b, today)
			guard := cmex.DefaultLoginGuard()
			if state == "shared" {
				guard.Store = sqlstore.NewGuardStore(store.DB)
			}
			users := cmex.Guarded{Guard: guard}.Users(store.Users)
			ctx := cmex.WithClientAddr(b.Context(), "198.51.100.7")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := users.Authenticate(ctx, "1234567", "webserviceuser@yourdomain.org", cmextest.Password); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

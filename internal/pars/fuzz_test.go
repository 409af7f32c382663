package pars

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/google/go-cmp/cmp"
)

func addCorpus(f *testing.F, dirs ...string) {
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzReadEnvelope: any body gives an envelope or a failure, never a panic,
// in either mode, for both envelopes.
func FuzzReadEnvelope(f *testing.F) {
	addCorpus(f, "wire")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, e := range []envelope{submitActivityEnvelope, searchCriteriaEnvelope} {
			for _, mode := range []Mode{Strict, Permissive} {
				m, _, fl := readEnvelope(body, e, mode)
				if fl == nil && m == nil {
					t.Fatal("neither members nor a failure")
				}
				if fl != nil && (fl.status < 400 || fl.status > 499) {
					t.Fatalf("a malformed envelope gets status %d", fl.status)
				}
			}
		}
	})
}

// FuzzDecodeActivity: any Data decodes or fails cleanly, the rules run on
// whatever decoded, and an activity without problems survives a round trip
// through the encoder unchanged.
func FuzzDecodeActivity(f *testing.F) {
	addCorpus(f, "save")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{Strict, Permissive} {
			d, fl := decodeActivityData(string(data), mode, 0)
			if fl != nil {
				continue
			}
			ch := cmex.ActivityChange{Action: d.action, Activity: d.activity, Close: d.close, Problems: d.problems}
			ps := cmex.CheckActivityData(&ch, today)
			if ps.HasErrors() || mode != Strict || ch.Action == string(cmex.ActionDelete) {
				continue
			}
			doc := encodeActivities([]*cmex.Activity{d.activity}, encodeOptions{action: ch.Action})
			again, fl := decodeActivityData(doc, Strict, 0)
			if fl != nil {
				t.Fatalf("re-decoding an accepted activity failed: %v\n%s", fl.problem, doc)
			}
			if diff := cmp.Diff(d.activity, again.activity); diff != "" {
				t.Fatalf("round trip changed an accepted activity:\n%s", diff)
			}
		}
	})
}

// FuzzValidateDocument: cmex validate never panics, and every problem it
// reports has a code from the catalogue and a line.
func FuzzValidateDocument(f *testing.F) {
	addCorpus(f, "wire", "save", "learner")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range ValidateDocument(body, Strict, today) {
			if _, ok := cmex.LookupRule(p.Code); !ok {
				t.Fatalf("problem with unknown code %q", p.Code)
			}
			if p.Line <= 0 && len(body) > 0 {
				t.Fatalf("problem %v has no line", p)
			}
		}
	})
}

// FuzzDecodeLearner: any learner Data decodes or fails cleanly, and the
// learner rules run on whatever decoded, online and offline.
func FuzzDecodeLearner(f *testing.F) {
	addCorpus(f, "learner")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{Strict, Permissive} {
			d, fl := decodeLearnerData(string(data), mode, 0)
			if fl != nil {
				continue
			}
			for _, st := range []cmex.LearnerState{{Offline: true}, {}} {
				ch := cmex.LearnerChange{Report: d.report, Problems: d.problems,
					By: cmex.Principal{Organization: cmex.Organization{ID: 1, ProviderID: "1234567"}}}
				v := cmex.CheckLearnerChange(&ch, st, cmex.MatchRegistry, today)
				if v.Problems.HasErrors() && len(v.Add) > 0 {
					t.Fatal("records planned despite errors")
				}
			}
		}
	})
}

// FuzzLearnerQueries: the status and match envelopes, and the reading of a
// match request, never panic.
func FuzzLearnerQueries(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "wire", "*.xml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, e := range []envelope{statusByLearnerEnvelope, statusByCreditEnvelope, learnerMatchEnvelope, submitLearnerEnvelope} {
			m, _, fl := readEnvelope(body, e, Permissive)
			if fl != nil {
				continue
			}
			if e.root == learnerMatchEnvelope.root {
				q, ps := matchQuery(m)
				if len(ps) == 0 && q.GivenName == "" {
					t.Fatal("a match query without a first name passed")
				}
			}
		}
	})
}

package planfile_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/cmexhub/cmex/internal/planfile"
)

// FuzzRead: any plan file is read or refused with the file's own error
// type, never a panic.
func FuzzRead(f *testing.F) {
	for _, file := range []string{"../../examples/plans.yaml", "../../cmd/cmex/sandbox-plans.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"roles":[{"role":"R","learningPlans":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		plans, err := planfile.Read(bytes.NewReader(data))
		var pe *planfile.Error
		switch {
		case err == nil && plans == nil:
			t.Fatal("no plans and no error")
		case err != nil && !errors.As(err, &pe):
			t.Fatalf("a bad file gives %T: %v", err, err)
		}
	})
}

package cmex_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cmexhub/cmex"

// listedPackage is what the architecture test needs of `go list -json`.
type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
}

// TestArchitecture enforces the dependency rule of DESIGN.md:
//
//	cmd/cmex → internal/server → adapters → cmex → standard library
//
// The root package imports only the standard library. Adapters do not
// import each other, except sqlite and postgres → sqlstore and SOAP
// adapters → soap. Only cmd/cmex imports sqlite, postgres and server. The
// test helpers (cmextest, storetest) are imported by tests only. Every
// package says in a doc comment what it owns.
func TestArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}

	testHelpers := map[string]bool{"internal/cmextest": true, "internal/storetest": true}
	onlyCmd := map[string]bool{"internal/sqlite": true, "internal/postgres": true, "internal/server": true}
	allowed := map[string]map[string]bool{
		"internal/sqlite":      {"internal/sqlstore": true},
		"internal/postgres":    {"internal/sqlstore": true},
		"internal/processsync": {"internal/soap": true},
		"internal/cmextest":    {"internal/sqlite": true, "internal/sqlstore": true},
		"internal/storetest":   {"internal/sqlstore": true, "internal/cmextest": true},
	}

	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment saying what it owns", p.ImportPath)
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				if rel == "" && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("the root package imports %s: it may import only the standard library", imp)
				}
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			switch {
			case rel == "":
				t.Errorf("the root package imports %s", imp)
			case strings.HasPrefix(dep, "cmd/"):
				t.Errorf("%s imports a command, %s", p.ImportPath, imp)
			case testHelpers[dep] && !testHelpers[rel]:
				t.Errorf("%s imports the test helper %s outside its tests", p.ImportPath, imp)
			case onlyCmd[dep] && rel != "cmd/cmex" && !allowed[rel][dep]:
				t.Errorf("%s imports %s, which only cmd/cmex may import", p.ImportPath, imp)
			case rel == "cmd/cmex", dep == "":
				// cmd/cmex wires everything; everyone may import the domain.
			case rel == "internal/server":
				// The server composes the protocol adapters.
			case strings.HasPrefix(rel, "internal/") && strings.HasPrefix(dep, "internal/") && !allowed[rel][dep]:
				t.Errorf("adapter %s imports adapter %s: adapters talk through the domain, not to each other", p.ImportPath, imp)
			}
		}
	}
}

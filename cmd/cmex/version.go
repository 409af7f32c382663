package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module and VCS information Go records.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "devel-" + rev + modified
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

func versionCommand() *command {
	c := &command{
		name:    "version",
		summary: "Print the version of cmex.",
		usage:   "cmex version",
		example: "cmex version",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		if err := parse(fs, args, e); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "cmex %s\n", versionString())
		return nil
	}
	return c
}

package main

import (
	"context"
	"fmt"
	"strings"
)

func helpCommand(cs map[string]*command) *command {
	c := &command{
		name:    "help",
		summary: "Show the commands, or one command's flags and an example.",
		usage:   "cmex help [COMMAND]",
		example: "cmex help serve",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			printOverview(e.stdout, cs)
			return nil
		}
		if strings.HasPrefix(args[0], "-") {
			c.printUsage(e.stdout, nil)
			return nil
		}
		target, ok := cs[args[0]]
		if !ok {
			return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
		}
		if target == c {
			c.printUsage(e.stdout, nil)
			return nil
		}
		// Each command prints its own usage, with its flags, on -h.
		target.run(ctx, &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stdout, getenv: func(string) string { return "" }}, append(args[1:], "-h"))
		return nil
	}
	return c
}

// Command cmex is the CME credit exchange: a server that speaks ACCME PARS
// and the other protocols of the field, and the CLI that administers it.
// Each subcommand lives in its own file with its own flag set; flags may
// also be given as CMEX_* environment variables (-db as CMEX_DB), and a
// flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/cmexhub/cmex"
)

// env is what a command may touch of the outside world, so tests can run
// commands in-process with their own streams and environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// ownsProcess is set when the command runs as the cmex process rather
	// than inside a test's: only then may it tune the runtime.
	ownsProcess bool
}

// command is a subcommand: cmex NAME [flags] [args].
type command struct {
	name    string
	summary string
	usage   string // the line after "usage: "
	example string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands returns every subcommand, by name.
func commands() map[string]*command {
	cs := []*command{serveCommand(), importCommand(), exportCommand(), benchCommand(), providerCommand(), userCommand(), learnersCommand(), apikeyCommand(), xapiCommand(), validateCommand(), versionCommand(),
		societyCommand(), accountCommand(), staffCommand(), backupCommand(), transcriptCommand(), plansCommand(), rolesCommand(), tokenCommand(), destinationsCommand(), deliveriesCommand(), auditCommand(), keysCommand()}
	m := map[string]*command{}
	for _, c := range cs {
		m[c.name] = c
	}
	m["help"] = helpCommand(m)
	return m
}

// errUsage marks an error in how a command was called; cmex exits 2.
var errUsage = errors.New("usage")

// exitError carries a specific exit status without a message (validate's 1).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := startCPUProfile(os.Getenv("CMEX_CPUPROFILE"))
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, ownsProcess: true})
	stopProfile()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile of the whole command to path, for
// go tool pprof, when path is set (CMEX_CPUPROFILE); it returns the
// function that finishes the profile. A %p in path is replaced by the
// process id, for commands that run others (cmex bench).
func startCPUProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmex: CMEX_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// run executes one command line and returns the exit status. What it
// changes, the audit log says the command line changed, as the system
// user running it.
func run(ctx context.Context, args []string, e *env) int {
	ctx = cmex.WithActor(ctx, "cli:"+systemUser())
	cs := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		printOverview(e.stdout, cs)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cs[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "cmex: unknown command %q; run 'cmex help' for the list\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var ee exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "cmex %s: %v\n", c.name, strings.TrimSuffix(strings.TrimPrefix(err.Error(), "usage: "), ": usage"))
		return 2
	default:
		fmt.Fprintf(e.stderr, "cmex %s: %v\n", c.name, err)
		return 1
	}
}

func printOverview(w io.Writer, cs map[string]*command) {
	fmt.Fprintln(w, "cmex: the CME credit exchange.")
	fmt.Fprintln(w, "\nusage: cmex COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, cs[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'cmex help COMMAND' or 'cmex COMMAND -h' for a command's flags and an example.")
	fmt.Fprintln(w, "Every flag can also be set as an environment variable: -db as CMEX_DB, -max-body as CMEX_MAX_BODY.")
}

// flagSet returns the flag set of c, whose -h prints its usage, example
// and flags.
func (c *command) flagSet(e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("cmex "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { c.printUsage(fs.Output(), fs) }
	return fs
}

func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usage, c.summary)
	if c.example != "" {
		fmt.Fprintf(w, "\nexample:\n%s\n", indent(c.example))
	}
	if fs != nil {
		has := false
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(w, "\nflags (each also as CMEX_NAME in the environment):")
			fs.PrintDefaults()
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n")
}

// parse parses args into fs, then sets each flag not given on the command
// line from its CMEX_* environment variable, if set.
func parse(fs *flag.FlagSet, args []string, e *env) error {
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := e.getenv(name); v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, serr)
			}
		}
	})
	return err
}

// parseInterspersed parses flags wherever they stand among the arguments
// (learners show 12 -db …), as the usage lines write them; the flag
// package alone stops at the first argument that is not a flag. After
// "--" everything is an argument. fs.Args() then holds the arguments, in
// order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// isSet reports whether the flag name was given, on the command line or in
// the environment, rather than left at its default.
func isSet(fs *flag.FlagSet, e *env, name string) bool {
	set := e.getenv(envName(name)) != ""
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envName(flagName string) string {
	return "CMEX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// groupHelp serves a command made of subcommands (provider add|list) when
// it is called with none, or with -h: it prints the usage with the flags
// declare adds, and reports that it answered.
func (c *command) groupHelp(e *env, args []string, want string, declare func(*flag.FlagSet)) (bool, error) {
	if len(args) > 0 && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		return false, nil
	}
	fs := c.flagSet(e)
	declare(fs)
	fs.SetOutput(e.stdout)
	c.printUsage(e.stdout, fs)
	if len(args) == 0 {
		return true, fmt.Errorf("%w: want %s", errUsage, want)
	}
	return true, nil
}

// systemUser is the name of the user running cmex, for the audit log.
func systemUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

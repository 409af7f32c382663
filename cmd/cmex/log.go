package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cmexhub/cmex/internal/server"
	"golang.org/x/term"
)

// newLogger returns the process's logger: text for a person at a terminal,
// JSON lines for a log collector, as format "auto" chooses.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: -log-level %q: want debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return nil, fmt.Errorf("%w: -log-format %q: want auto, text or json", errUsage, format)
	}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(server.LogHandler(h)), nil
}

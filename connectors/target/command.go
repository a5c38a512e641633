package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultCommandTimeout bounds one command when Runner.Timeout is zero:
// long enough for a configtest of a large Apache, short enough that a hung
// reload does not hold the deployment forever.
const DefaultCommandTimeout = 60 * time.Second

// commandWaitDelay is how long Run waits for a command's output after it
// exited or was killed: a reload that starts a daemon may leave it holding
// the output pipe, which must not hold the deployment.
const commandWaitDelay = 5 * time.Second

// shellMeta are the characters a shell would interpret. Commands never go
// through a shell, so a config holding one either expects shell behaviour
// it will not get or tries to smuggle a second command in: both are refused.
const shellMeta = ";|&$`<>(){}*?!~\\"

// ParseCommand splits cmd, the value of config field field, into the
// arguments of a process: words separated by spaces or tabs, where single or
// double quotes group a word that contains spaces ("a b" and 'a b' are one
// word; quotes inside a word join with it, --x="a b" is --x=a b). Nothing
// is expanded. An empty command, an unterminated quote, a shell
// metacharacter (see shellMeta), a newline or another control character is
// a *ConfigError naming field. The executable must be an absolute path or a
// bare name looked up in PATH.
func ParseCommand(field, cmd string) ([]string, error) {
	return parseCommand(field, cmd, shellMeta)
}

// parseCommand is ParseCommand refusing the characters of meta.
func parseCommand(field, cmd, meta string) ([]string, error) {
	if strings.TrimSpace(cmd) == "" {
		return nil, Configf(field, "a command is required")
	}
	if !utf8.ValidString(cmd) {
		return nil, Configf(field, "the command is not valid UTF-8")
	}
	var (
		args    []string
		word    strings.Builder
		inWord  bool
		quote   rune // the open quote, or 0
		quoteAt int
	)
	for i, c := range cmd {
		switch {
		case c == '\n' || c == '\r':
			return nil, Configf(field, "a newline at byte %d: give one command on one line; commands run without a shell", i)
		case c == 0:
			return nil, Configf(field, "a NUL byte at byte %d is not allowed", i)
		case strings.ContainsRune(meta, c):
			return nil, Configf(field, "%q at byte %d is not allowed: commands run without a shell, so give the program and its arguments only (quotes may group a word with spaces)", c, i)
		case (c < 0x20 && c != '\t') || c == 0x7f:
			return nil, Configf(field, "control character %U at byte %d is not allowed", c, i)
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				word.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, quoteAt, inWord = c, i, true
		case c == ' ' || c == '\t':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, Configf(field, "the quote %q at byte %d is not closed", quote, quoteAt)
	}
	if inWord {
		args = append(args, word.String())
	}
	if exe := args[0]; exe == "" || strings.Contains(exe, "/") && !filepath.IsAbs(exe) {
		return nil, Configf(field, "executable %q: give an absolute path or a bare name found in PATH", exe)
	}
	return args, nil
}

// Runner runs the validate and reload commands of host targets, without a
// shell, when the agent's allow-list permits them. The zero Runner, and a
// nil *Runner, run nothing. A Runner is safe for concurrent use.
type Runner struct {
	// Allowed are the command lines the agent's operator permits (the
	// agent's allowed_commands setting), each a program and its arguments
	// as ParseCommand reads a command, where an argument may hold
	// placeholders for the paths of the deployment ({cert_path}, see
	// Paths). A command runs only when one line matches it whole: the same
	// program and the same arguments in the same order, none more, none
	// fewer. A bare program name matches the same bare name or the file
	// PATH resolves it to; an absolute path matches itself or a bare name
	// PATH resolves to it. Empty runs nothing. Validate checks the lines.
	Allowed []string
	// Timeout bounds each command; 0 means DefaultCommandTimeout. A command
	// that runs out of time is killed with every process it started.
	Timeout time.Duration
}

// Validate checks every line of Allowed: its syntax (ParseCommand's, with
// "{" and "}" reserved for placeholders) and its placeholders. Errors name
// allowed_commands and the line.
func (r *Runner) Validate() error {
	if r == nil {
		return nil
	}
	for _, line := range r.Allowed {
		if _, err := parseAllowed(line); err != nil {
			return err
		}
	}
	return nil
}

// Run parses cmd (the value of config field field, see ParseCommand),
// checks it against Allowed, with paths the values of its placeholders,
// and runs it, returning what it printed (stdout and stderr together,
// trimmed with TrimOutput). A command the allow-list does not permit is a
// *NotAllowedError and does not run. A command that does not start, exits
// non-zero, runs out of time or is cancelled with ctx is a *CommandError
// carrying its output. It never runs a shell.
func (r *Runner) Run(ctx context.Context, field, cmd string, paths Paths) (string, error) {
	args, err := r.parse(field, cmd, paths)
	if err != nil {
		return "", err
	}
	timeout := DefaultCommandTimeout
	if r.Timeout > 0 { // r is not nil: a nil Runner permits nothing
		timeout = r.Timeout
	}

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(runCtx, args[0], args[1:]...)
	var out tailBuffer
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = commandWaitDelay
	ownProcessGroup(c)
	err = c.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command itself succeeded; what kept the pipe open is a
		// process it started on purpose (a daemon).
		err = nil
	}
	output := TrimOutput(out.Bytes())
	if err == nil {
		return output, nil
	}
	cerr := &CommandError{Field: field, Command: cmd, ExitCode: -1, Output: output, Err: err}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		cerr.Err = fmt.Errorf("cancelled: %w", ctx.Err())
	case runCtx.Err() != nil:
		cerr.Err = fmt.Errorf("killed after %s without finishing", timeout)
	case errors.As(err, &exitErr) && exitErr.Exited():
		cerr.ExitCode = exitErr.ExitCode()
	}
	return output, cerr
}

// Check parses cmd and checks it against Allowed without running it, for a
// config check: the errors Run would return before starting anything.
func (r *Runner) Check(field, cmd string, paths Paths) error {
	_, err := r.parse(field, cmd, paths)
	return err
}

func (r *Runner) parse(field, cmd string, paths Paths) ([]string, error) {
	args, err := ParseCommand(field, cmd)
	if err != nil {
		return nil, err
	}
	var allowed []string
	if r != nil {
		allowed = r.Allowed
	}
	for _, line := range allowed {
		a, err := parseAllowed(line)
		if err == nil && a.matches(args, paths) {
			return args, nil
		}
	}
	return nil, &NotAllowedError{Field: field, Value: cmd, Setting: "allowed_commands", Allowed: allowed,
		Add: strings.TrimSpace(cmd), Alternative: withPlaceholders(args, paths)}
}

// tailBuffer keeps the last bytes a command writes: enough for TrimOutput
// to know it was cut, without holding a chatty command's whole output.
type tailBuffer struct {
	buf bytes.Buffer
}

const tailKeep = 2 * MaxOutput

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > tailKeep {
		p = p[len(p)-tailKeep:]
	}
	if over := b.buf.Len() + len(p) - tailKeep; over > 0 {
		b.buf.Next(over)
	}
	b.buf.Write(p)
	return n, nil
}

func (b *tailBuffer) Bytes() []byte { return b.buf.Bytes() }

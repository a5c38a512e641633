package target

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels, matched with errors.Is. The typed errors below match them too.
var (
	// ErrInvalidConfig: a target's config is unusable (*ConfigError).
	ErrInvalidConfig = errors.New("target: invalid config")
	// ErrUnknownType: no connector is registered for a target type.
	ErrUnknownType = errors.New("target: unknown target type")
	// ErrCommand: a validate or reload command failed (*CommandError).
	ErrCommand = errors.New("target: command failed")
	// ErrNotServed: the system does not serve the deployed certificate.
	ErrNotServed = errors.New("target: certificate not served")
	// ErrKeyMismatch: the certificate is not for the local private key, so
	// deploying the pair would break the system's TLS.
	ErrKeyMismatch = errors.New("target: certificate does not match the key")
	// ErrNotAllowed: the agent's own allow-lists (allowed_commands,
	// allowed_dirs) do not permit a command or path of a target's config
	// (*NotAllowedError).
	ErrNotAllowed = errors.New("target: not allowed on this agent")
)

// ConfigError is an invalid field of a target's config.
type ConfigError struct {
	// Field is the config's field name, e.g. "cert_path".
	Field string
	// Reason says what is wrong and what to do, for a person.
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("target: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Configf returns a *ConfigError for field.
func Configf(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NotAllowedError is a command or path of a target's config that the
// agent's allow-lists do not permit. It is returned before anything is
// written or run. Its message names the agent setting to change and the
// exact value that would permit the request, for the operator of the host.
type NotAllowedError struct {
	// Field is the target config's field, e.g. "reload_command" or
	// "cert_path"; Value is the command or path it holds.
	Field, Value string
	// Setting is the agent's setting that refused it: "allowed_commands"
	// or "allowed_dirs". Allowed is what that setting holds.
	Setting string
	Allowed []string
	// Add is the value that, added to Setting, permits Value; Alternative,
	// if not empty, is a more general one (a command line with
	// placeholders for the target's paths).
	Add, Alternative string
	// Resolved is where Value leads once symbolic links are resolved, when
	// that differs from Value.
	Resolved string
}

func (e *NotAllowedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target: %s %q is not allowed on this agent: ", e.Field, e.Value)
	if e.Resolved != "" {
		fmt.Fprintf(&b, "it leads to %q, which ", e.Resolved)
	} else {
		b.WriteString("it ")
	}
	switch {
	case len(e.Allowed) == 0 && e.Setting == "allowed_commands":
		b.WriteString("is not in allowed_commands, which is empty, so this agent runs no command")
	case len(e.Allowed) == 0:
		b.WriteString("is not inside allowed_dirs, which is empty, so this agent writes nowhere but its own key and state directories")
	case e.Setting == "allowed_commands":
		fmt.Fprintf(&b, "matches no command line of allowed_commands (%s)", strings.Join(e.Allowed, "; "))
	default:
		fmt.Fprintf(&b, "is outside every directory of allowed_dirs (%s)", strings.Join(e.Allowed, ", "))
	}
	fmt.Fprintf(&b, ". To permit it, add %q to %s in the agent's configuration", e.Add, e.Setting)
	if e.Alternative != "" {
		fmt.Fprintf(&b, " (or %q, where placeholders stand for the paths the target writes)", e.Alternative)
	}
	b.WriteString(" and restart the agent; or change the target")
	return b.String()
}

// Is makes a *NotAllowedError match ErrNotAllowed, and ErrInvalidConfig:
// on this agent the config is unusable.
func (e *NotAllowedError) Is(target error) bool {
	return target == ErrNotAllowed || target == ErrInvalidConfig
}

// CommandError is a validate or reload command that failed: it did not
// start, exited non-zero, or ran out of time. Output is what it printed
// (stdout and stderr), trimmed to MaxOutput.
type CommandError struct {
	// Field is the config field the command came from, e.g.
	// "validate_command".
	Field    string
	Command  string
	ExitCode int // -1 when it did not start or was killed
	Output   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s %q failed", e.Field, e.Command)
	if e.ExitCode >= 0 {
		msg += fmt.Sprintf(" with exit status %d", e.ExitCode)
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// Is makes a *CommandError match ErrCommand.
func (e *CommandError) Is(target error) bool { return target == ErrCommand }

func (e *CommandError) Unwrap() error { return e.Err }

package target

import (
	"errors"
	"fmt"
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

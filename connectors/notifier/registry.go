package notifier

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry holds the configured notifier of each channel, by channel name
// (compared case-insensitively). cmd fills one at start-up from its config
// and hands it to whatever sends notifications; there is no global registry
// and no registration in init(). A Registry is safe for concurrent use; its
// zero value is not usable, call NewRegistry.
type Registry struct {
	mu        sync.RWMutex
	notifiers map[string]entry // by strings.ToLower(channel)
}

type entry struct {
	channel string // as registered, e.g. "Email"
	n       Notifier
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{notifiers: make(map[string]entry)}
}

// Register makes n the notifier of channel. Registering a channel twice (in
// any letter case) is an error.
func (r *Registry) Register(channel string, n Notifier) error {
	if strings.TrimSpace(channel) == "" {
		return errors.New("notifier: register: empty channel name")
	}
	if n == nil {
		return fmt.Errorf("notifier: register %q: nil notifier", channel)
	}
	key := strings.ToLower(channel)
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.notifiers[key]; ok {
		return fmt.Errorf("notifier: register %q: channel already registered as %q", channel, prev.channel)
	}
	r.notifiers[key] = entry{channel: channel, n: n}
	return nil
}

// Get returns the notifier of channel, or a *NoNotifierError (matching
// ErrNoNotifier) when none is registered.
func (r *Registry) Get(channel string) (Notifier, error) {
	r.mu.RLock()
	e, ok := r.notifiers[strings.ToLower(channel)]
	r.mu.RUnlock()
	if !ok {
		return nil, &NoNotifierError{Channel: channel}
	}
	return e.n, nil
}

// Channels returns the registered channel names as registered, sorted.
func (r *Registry) Channels() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.notifiers))
	for _, e := range r.notifiers {
		names = append(names, e.channel)
	}
	slices.Sort(names)
	return names
}

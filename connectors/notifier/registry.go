package notifier

import "github.com/certctl/certctl/connectors/internal/byname"

// Registry holds the configured notifier of each channel, by channel name
// (compared case-insensitively). cmd fills one at start-up from its config
// and hands it to whatever sends notifications; there is no global registry
// and no registration in init(). A Registry is safe for concurrent use; its
// zero value is not usable, call NewRegistry.
type Registry struct {
	set byname.Set[Notifier]
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{set: byname.Set[Notifier]{Package: "notifier", Noun: "channel"}}
}

// Register makes n the notifier of channel. Registering a channel twice (in
// any letter case) is an error.
func (r *Registry) Register(channel string, n Notifier) error { return r.set.Add(channel, n) }

// Get returns the notifier of channel, or a *NoNotifierError (matching
// ErrNoNotifier) when none is registered.
func (r *Registry) Get(channel string) (Notifier, error) {
	n, ok := r.set.Get(channel)
	if !ok {
		return nil, &NoNotifierError{Channel: channel}
	}
	return n, nil
}

// Channels returns the registered channel names as registered, sorted.
func (r *Registry) Channels() []string { return r.set.Names() }

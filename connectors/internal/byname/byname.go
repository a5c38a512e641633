// Package byname keeps connectors by a name compared case-insensitively
// (a notifier channel, a target type): the part the registries of
// connectors/notifier and connectors/target share.
package byname

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Set holds values by name. Its zero value is empty and ready; it is safe
// for concurrent use.
type Set[T any] struct {
	// Package and Noun word the errors: "<Package>: register "x": <Noun>
	// already registered as "X"".
	Package, Noun string

	mu sync.RWMutex
	m  map[string]entry[T]
}

type entry[T any] struct {
	name string // as registered
	v    T
}

// Add registers v under name. An empty name, a nil v, or a name already
// registered in any letter case is an error.
func (s *Set[T]) Add(name string, v T) error {
	if strings.TrimSpace(name) == "" {
		return errors.New(s.Package + ": register: empty " + s.Noun + " name")
	}
	if any(v) == nil {
		return fmt.Errorf("%s: register %q: nil %s", s.Package, name, s.Package)
	}
	key := strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.m[key]; ok {
		return fmt.Errorf("%s: register %q: %s already registered as %q", s.Package, name, s.Noun, prev.name)
	}
	if s.m == nil {
		s.m = make(map[string]entry[T])
	}
	s.m[key] = entry[T]{name: name, v: v}
	return nil
}

// Get returns the value registered under name, in any letter case.
func (s *Set[T]) Get(name string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.m[strings.ToLower(name)]
	return e.v, ok
}

// Names returns the names as registered, sorted.
func (s *Set[T]) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.m))
	for _, e := range s.m {
		names = append(names, e.name)
	}
	slices.Sort(names)
	return names
}

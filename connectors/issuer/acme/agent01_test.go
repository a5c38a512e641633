package acme

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
)

// agentStore is a Challenges whose answers an agent confirms when told to.
type agentStore struct {
	mu        sync.Mutex
	published []Answer
	withdrawn []string
	served    map[string]string
	serveOn   func(a Answer) // called on Publish, e.g. to confirm later
}

func (s *agentStore) Publish(_ context.Context, a Answer) error {
	s.mu.Lock()
	s.published = append(s.published, a)
	f := s.serveOn
	s.mu.Unlock()
	if f != nil {
		go f(a)
	}
	return nil
}

func (s *agentStore) Withdraw(_ context.Context, _, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withdrawn = append(s.withdrawn, token)
	return nil
}

func (s *agentStore) ServedBy(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.served[token]
	return a, ok
}

func (s *agentStore) confirm(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served[token] = "ag-1"
}

func agentPublisher(store Challenges, wait time.Duration, certID string) *publisher {
	c := &connector{challenges: store, opts: Options{Now: time.Now, AnswerLife: time.Minute, AgentWait: wait}}
	return &publisher{i: &Issuer{c: c, id: "iss-1", cfg: Config{Challenge: ChallengeHTTP01, HTTP01Responder: ResponderAgent}}, certID: certID}
}

// Present returns only once an agent confirmed it serves the answer,
// published for the certificate's agents.
func TestAgentResponder_PresentWaitsForTheAgent(t *testing.T) {
	store := &agentStore{served: map[string]string{}}
	var confirmedAt time.Time
	store.serveOn = func(a Answer) {
		time.Sleep(300 * time.Millisecond)
		confirmedAt = time.Now()
		store.confirm(a.Token)
	}
	p := agentPublisher(store, 10*time.Second, "mc-1")
	require.NoError(t, p.Present(context.Background(), "www.example.com", "tok", "tok.thumb"))
	assert.False(t, confirmedAt.IsZero() || time.Now().Before(confirmedAt), "returned after the confirmation")
	require.Len(t, store.published, 1)
	assert.Equal(t, ResponderAgent, store.published[0].Responder)
	assert.Equal(t, "mc-1", store.published[0].CertificateID)
	assert.Empty(t, store.withdrawn, "a confirmed answer stays until CleanUp")
}

// No agent confirms: the order fails before the CA is told, with an error
// naming the certificate and the agent's flags, and the answer withdrawn.
func TestAgentResponder_NoAgentFailsClearly(t *testing.T) {
	store := &agentStore{served: map[string]string{}}
	p := agentPublisher(store, 200*time.Millisecond, "mc-1")
	err := p.Present(context.Background(), "www.example.com", "tok", "tok.thumb")
	require.ErrorIs(t, err, issuer.ErrInvalidRequest, "final: retrying would wait again for nothing")
	assert.ErrorContains(t, err, "certificate mc-1")
	assert.ErrorContains(t, err, "-acme-http-addr or -acme-webroot")
	assert.Equal(t, []string{"tok"}, store.withdrawn)

	// Without a certificate, or a store that sees no confirmations.
	err = agentPublisher(store, time.Second, "").Present(context.Background(), "d", "tok", "tok.thumb")
	assert.ErrorContains(t, err, "certificate_id")
	err = agentPublisher(nodeOnly{}, time.Second, "mc-1").Present(context.Background(), "d", "tok", "tok.thumb")
	assert.True(t, errors.Is(err, errNoAgentResponder))
}

type nodeOnly struct{}

func (nodeOnly) Publish(context.Context, Answer) error          { return nil }
func (nodeOnly) Withdraw(context.Context, string, string) error { return nil }

func TestAgentResponder_Config(t *testing.T) {
	base := map[string]any{"directory_url": "https://ca.example.net/dir"}
	parse := func(extra map[string]any) error {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		raw, _ := json.Marshal(m)
		_, err := ParseConfig(raw)
		return err
	}
	assert.NoError(t, parse(map[string]any{"http01_responder": "agent"}))
	assert.NoError(t, parse(map[string]any{"http01_responder": "cluster"}))
	var ce *issuer.ConfigError
	err := parse(map[string]any{"http01_responder": "host"})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "http01_responder", ce.Field)
	err = parse(map[string]any{"http01_responder": "agent", "challenge": "dns-01", "dns_server": "10.0.0.53:53", "dns_zone": "example.com"})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "http01_responder", ce.Field)
}

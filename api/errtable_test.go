package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// injecting is a real node whose writes of a team with an id in errs fail
// with that error while the node leads: a write sent to it directly, and a
// write a follower forwards to it, exactly as the node would answer an error
// of its own (node.WriteForwardAnswer is what its ProposeHandler answers
// with). Every other write is the node's.
type injecting struct {
	*node.Node
	errs *sync.Map // team id -> error
}

func (i injecting) injected(p fsm.Payload) error {
	if ct, ok := p.(*fsm.CreateTeam); ok && i.IsLeader() {
		if err, ok := i.errs.Load(ct.Team.ID); ok {
			return err.(error)
		}
	}
	return nil
}

func (i injecting) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	data, err := cmd.Encode()
	if err != nil {
		return 0, err
	}
	if _, p, err := fsm.DecodeCommand(data); err == nil {
		if err := i.injected(p); err != nil {
			return 0, err
		}
	}
	return i.Node.Propose(ctx, cmd)
}

func (i injecting) ProposeHandler() http.Handler {
	real := i.Node.ProposeHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, p, derr := fsm.DecodeCommand(body); derr == nil {
			if err := i.injected(p); err != nil {
				var domain *fsm.Error
				if errors.As(err, &domain) {
					node.WriteForwardAnswer(w, node.ForwardResponse{Error: domain}, nil)
				} else {
					node.WriteForwardAnswer(w, node.ForwardResponse{}, err)
				}
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		real.ServeHTTP(w, r)
	})
}

// call sends a request to m's API over HTTPS as key ("" for none).
func (c *apiCluster) call(t *testing.T, m *nodetest.Member, key, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "https://"+m.Config.APIAddr+path, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := nodetest.HTTPClient(t, m.Config.DataDir, false).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// sameError requires the error shape of both answers and the same status,
// code, message and field in each, and returns the leader's.
func sameError(t *testing.T, onLeader, viaFollower answer) answer {
	t.Helper()
	requireError(t, onLeader, onLeader.status, "")
	requireError(t, viaFollower, viaFollower.status, "")
	assert.Equal(t, onLeader.status, viaFollower.status, "status; leader: %s; follower: %s", onLeader.raw, viaFollower.raw)
	for _, k := range []string{"code", "message", "field"} {
		assert.Equal(t, onLeader.body[k], viaFollower.body[k], k)
	}
	if onLeader.status == http.StatusServiceUnavailable {
		assert.Equal(t, "1", onLeader.header.Get("Retry-After"))
		assert.Equal(t, "1", viaFollower.header.Get("Retry-After"))
	}
	return onLeader
}

// TestAPI_ErrorTableSameOnLeaderAndThroughFollower: every domain error (each
// fsm Code) and every failure of node, met by a write on the leader, is
// answered with the same status, code, message and field whether the client
// sent the write to the leader or to a follower that forwarded it, and each
// with the status and code of the one table. The leader's errors are
// injected where the node meets them (its Propose, its answer to a forwarded
// write); the forwarding, the follower's reading of the leader's answer and
// its retries are the real ones.
func TestAPI_ErrorTableSameOnLeaderAndThroughFollower(t *testing.T) {
	var errs sync.Map
	c := newAPIClusterWith(t, api.Config{RateLimit: -1, WriteTimeout: 10 * time.Second},
		func(n *node.Node) api.Cluster { return injecting{Node: n, errs: &errs} })
	leader, follower := c.Leader(t), c.Followers()[0]

	domain := func(code fsm.Code, field string) error {
		return &fsm.Error{Code: code, Resource: "team", ID: "t-x", Field: field, Message: "team t-x: refused with " + string(code)}
	}
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		// viaFollower, when set, is the code a follower answers instead: it
		// retries on the next leader what the leader did not take, and
		// none took it.
		viaFollower string
	}{
		{"invalid", domain(fsm.CodeInvalid, "name"), 400, "invalid", ""},
		{"not_found", domain(fsm.CodeNotFound, ""), 404, "not_found", ""},
		{"conflict", domain(fsm.CodeConflict, ""), 409, "conflict", ""},
		{"lease_held", domain(fsm.CodeLeaseHeld, ""), 409, "lease_held", ""},
		{"bad_lease", domain(fsm.CodeBadLease, ""), 409, "bad_lease", ""},
		{"state", domain(fsm.CodeState, ""), 409, "state", ""},
		{"internal", domain(fsm.CodeInternal, ""), 500, "internal", ""},
		{"fsm unauthorized", domain(fsm.CodeUnauthorized, ""), 401, "unauthorized", ""},
		{"policy_violation", domain(fsm.CodePolicy, "sans"), 422, "policy_violation", ""},
		{"no leader", fmt.Errorf("%w after 5s", node.ErrNoLeader), 503, "no_leader", ""},
		{"not leader", fmt.Errorf("%w: raft: node is not the leader", node.ErrNotLeader), 503, "no_leader", ""},
		{"leadership lost", fmt.Errorf("%w: raft: leadership lost while committing log", node.ErrLeadershipLost), 503, "leadership_lost", ""},
		{"closed", node.ErrClosed, 503, "unavailable", "no_leader"},
		{"deadline", fmt.Errorf("node: waiting for commit, outcome unknown: %w", context.DeadlineExceeded), 503, "timeout", ""},
		{"node unauthorized", fmt.Errorf("%w: no node certificate", node.ErrUnauthorized), 401, "unauthorized", ""},
		{"node forbidden", fmt.Errorf("%w: node n2 may not record a certificate of node n3", node.ErrForbidden), 403, "forbidden", ""},
		{"any other error", errors.New("node: raft: disk on fire"), 500, "internal", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			direct, forwarded := fmt.Sprintf("t-inject-%d-l", i), fmt.Sprintf("t-inject-%d-f", i)
			errs.Store(direct, tc.err)
			errs.Store(forwarded, tc.err)
			onLeader := c.call(t, leader, c.admin, "POST", "/api/v1/teams", map[string]any{"id": direct, "name": direct})
			viaFollower := c.call(t, follower, c.admin, "POST", "/api/v1/teams", map[string]any{"id": forwarded, "name": forwarded})
			requireError(t, onLeader, tc.status, "")
			assert.Equal(t, tc.code, onLeader.body["code"])
			if tc.viaFollower != "" {
				requireError(t, viaFollower, http.StatusServiceUnavailable, "")
				assert.Equal(t, tc.viaFollower, viaFollower.body["code"])
				return
			}
			a := sameError(t, onLeader, viaFollower)
			var fe *fsm.Error
			if errors.As(tc.err, &fe) {
				assert.Equal(t, fe.Message, a.body["message"], "a domain rejection keeps its message")
				if fe.Field != "" {
					assert.Equal(t, fe.Field, a.body["field"], "and its field")
				}
			}
		})
	}

	// The same through real refusals, nothing injected.
	r := refs{team: "t-real", owner: "o-real", issuer: "iss-real"}
	c.call(t, leader, c.admin, "POST", "/api/v1/teams", map[string]any{"id": r.team, "name": r.team})
	c.call(t, leader, c.admin, "POST", "/api/v1/owners", map[string]any{"id": r.owner, "name": r.owner, "email": "o@example.com", "team_id": r.team})
	c.call(t, leader, c.admin, "POST", "/api/v1/issuers", map[string]any{"id": r.issuer, "name": r.issuer, "type": "GenericCA",
		"config": map[string]any{"ca_common_name": "Test CA", "validity_days": 90}, "enabled": true})
	cert := map[string]any{"id": "mc-real", "name": "mc-real", "common_name": "real.example.com", "environment": "production",
		"owner_id": r.owner, "team_id": r.team, "issuer_id": r.issuer}
	require.Equal(t, 201, c.call(t, leader, c.admin, "POST", "/api/v1/certificates", cert).status)
	require.Equal(t, 204, c.call(t, leader, c.admin, "DELETE", "/api/v1/certificates/mc-real", nil).status)
	require.Equal(t, 201, c.call(t, leader, c.admin, "POST", "/api/v1/policies", map[string]any{"id": "pr-real", "name": "Site domains",
		"type": "AllowedDomains", "config": map[string]any{"allowed_domains": []string{"example.com"}}, "enabled": true, "severity": "Error"}).status)
	violating := map[string]any{"id": "mc-bad", "name": "mc-bad", "common_name": "www.google.com", "environment": "production",
		"owner_id": r.owner, "team_id": r.team, "issuer_id": r.issuer}
	for _, m := range c.Members {
		nodetest.WaitFor(t, "the policy on "+m.ID(), func() bool { _, err := m.Node().FSM().PolicyRule("pr-real"); return err == nil })
	}
	real := []struct {
		name, key, method, path string
		body                    any
		status                  int
		code, field             string
	}{
		{"duplicate id", c.admin, "POST", "/api/v1/teams", map[string]any{"id": r.team, "name": "other"}, 409, "conflict", ""},
		{"unknown id", c.admin, "PUT", "/api/v1/teams/t-none", map[string]any{"name": "x"}, 404, "not_found", ""},
		{"malformed body", c.admin, "POST", "/api/v1/teams", `{"id": "t-y", "name": 7}`, 400, "invalid", "name"},
		{"archived", c.admin, "PUT", "/api/v1/certificates/mc-real", cert, 409, "state", ""},
		{"policy", c.admin, "POST", "/api/v1/certificates", violating, 422, "policy_violation", "sans"},
		{"no key", "", "POST", "/api/v1/teams", map[string]any{"name": "x"}, 401, "unauthorized", ""},
		{"unknown key", "cc_unknown", "POST", "/api/v1/teams", map[string]any{"name": "x"}, 401, "unauthorized", ""},
		{"no route", c.admin, "POST", "/api/v1/nothing", map[string]any{}, 404, "not_found", ""},
		{"too large", c.admin, "POST", "/api/v1/teams", `{"name": "` + strings.Repeat("x", api.MaxBodyBytes) + `"}`, 413, "too_large", ""},
	}
	for _, rc := range real {
		t.Run(rc.name, func(t *testing.T) {
			onLeader := c.call(t, leader, rc.key, rc.method, rc.path, rc.body)
			viaFollower := c.call(t, follower, rc.key, rc.method, rc.path, rc.body)
			requireError(t, onLeader, rc.status, rc.field)
			assert.Equal(t, rc.code, onLeader.body["code"])
			sameError(t, onLeader, viaFollower)
		})
	}
}

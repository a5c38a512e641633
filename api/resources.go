package api

import (
	"encoding/json"
	"net/http"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// crud serves the five routes of a resource kept as plain records (teams,
// owners, issuers, targets, policy rules, renewal policies).
type crud[T any] struct {
	s        *Server
	tag      string // the OpenAPI tag and the resource's name in summaries
	idPrefix string
	wire     any // the wire type, for the OpenAPI document
	wireList any
	id       func(*T) *string
	prepare  func(*T)                     // fills defaults before validation
	bind     func(*gin.Context) (T, bool) // decodes a body; nil means bindJSON into T
	check    func(*gin.Context, *T) error // checks beyond the state machine's (connector configs); nil for none
	// protect settles a record's secrets (seals them) just before it is
	// proposed, update telling a PUT from a POST, and returns the secret
	// fields the update cleared (the record moved without them); it writes
	// the error itself and returns false on failure. Nil for none.
	protect func(c *gin.Context, v *T, update bool) (cleared []string, ok bool)
	// view hides what a record's answers must not show (secrets); nil
	// serves records as stored.
	view func(*T)
	// cleared is the answer to a write that cleared secrets: the record as
	// served and the fields cleared. Nil: the record alone.
	cleared  func(v *T, fields []string) any
	read     func(id string) (*T, error)
	readList func(c *gin.Context, p fsm.Page) (fsm.List[T], error)
	onCreate func(T) fsm.Payload
	// onUpdate makes the update's payload of v and the secret fields
	// protect cleared in it.
	onUpdate func(v T, cleared []string) fsm.Payload
	onDelete func(id string) fsm.Payload
}

func (r *crud[T]) list(path string, filters ...string) route {
	return route{method: "GET", path: path, access: accessRead, summary: "List " + r.tag, tag: r.tag,
		response: r.wireList, status: 200, query: withList(append(filters, "consistency")...),
		handler: func(c *gin.Context) {
			p, ok := pageOf(c)
			if !ok {
				return
			}
			l, err := r.readList(c, p)
			if err != nil {
				fail(c, err)
				return
			}
			if r.view != nil {
				for i := range l.Items {
					r.view(&l.Items[i])
				}
			}
			respondList(c, p, l)
		}}
}

func (r *crud[T]) get(path string) route {
	return route{method: "GET", path: path, access: accessRead, summary: "Get one of " + r.tag, tag: r.tag,
		response: r.wire, status: 200, query: []string{"consistency"},
		handler: func(c *gin.Context) {
			r.s.respondRead(c, http.StatusOK, func() (any, error) { return r.load(c.Param("id")) })
		}}
}

func (r *crud[T]) create(path string) route {
	return route{method: "POST", path: path, access: accessWrite, summary: "Create one of " + r.tag, tag: r.tag,
		request: r.wire, response: r.wire, status: 201,
		handler: func(c *gin.Context) {
			r.write(c, http.StatusCreated, func(v T, _ []string) fsm.Payload { return r.onCreate(v) }, false, func(id *string) bool {
				if *id == "" {
					*id = NewID(r.idPrefix)
				}
				return true
			})
		}}
}

func (r *crud[T]) update(path string) route {
	return route{method: "PUT", path: path, access: accessWrite, summary: "Update one of " + r.tag, tag: r.tag,
		request: r.wire, response: r.wire, status: 200,
		handler: func(c *gin.Context) {
			r.write(c, http.StatusOK, r.onUpdate, true, func(id *string) bool {
				if *id != "" && *id != c.Param("id") {
					fail(c, invalid("id", "the body's id "+*id+" differs from the id in the path "+c.Param("id")))
					return false
				}
				*id = c.Param("id")
				return true
			})
		}}
}

// write decodes a record, settles its id with setID, prepares, checks and
// protects it, proposes what payload makes of it, and answers with the
// stored record as served.
func (r *crud[T]) write(c *gin.Context, status int, payload func(T, []string) fsm.Payload, update bool, setID func(*string) bool) {
	v, ok := r.decode(c)
	if !ok {
		return
	}
	id := r.id(&v)
	if !setID(id) {
		return
	}
	if r.prepare != nil {
		r.prepare(&v)
	}
	if r.check != nil {
		if err := r.check(c, &v); err != nil {
			fail(c, invalid("config", err.Error()))
			return
		}
	}
	var cleared []string
	if r.protect != nil {
		var ok bool
		if cleared, ok = r.protect(c, &v, update); !ok {
			return
		}
	}
	if r.s.propose(c, payload(v, cleared)) {
		r.s.respondRead(c, status, func() (any, error) {
			got, err := r.load(*id)
			if err != nil || len(cleared) == 0 || r.cleared == nil {
				return got, err
			}
			return r.cleared(got, cleared), nil
		})
	}
}

// load reads the record with id as it is served: through view.
func (r *crud[T]) load(id string) (*T, error) {
	v, err := r.read(id)
	if err == nil && r.view != nil {
		r.view(v)
	}
	return v, err
}

func (r *crud[T]) remove(path string) route {
	return route{method: "DELETE", path: path, access: accessWrite, summary: "Delete one of " + r.tag, tag: r.tag, status: 204,
		handler: func(c *gin.Context) {
			if r.s.propose(c, r.onDelete(c.Param("id"))) {
				c.Status(http.StatusNoContent)
			}
		}}
}

func (r *crud[T]) decode(c *gin.Context) (T, bool) {
	if r.bind != nil {
		return r.bind(c)
	}
	var v T
	ok := bindJSON(c, &v)
	return v, ok
}

func emptyObject(raw *json.RawMessage) {
	if len(*raw) == 0 {
		*raw = json.RawMessage("{}")
	}
}

func (s *Server) teamsResource() *crud[fsm.Team] {
	return &crud[fsm.Team]{s: s, tag: "teams", idPrefix: "t-", wire: wire.Team{}, wireList: wire.List[wire.Team]{},
		id:       func(v *fsm.Team) *string { return &v.ID },
		read:     s.state.Team,
		readList: func(_ *gin.Context, p fsm.Page) (fsm.List[fsm.Team], error) { return s.state.Teams(p) },
		onCreate: func(v fsm.Team) fsm.Payload { return &fsm.CreateTeam{Team: v} },
		onUpdate: func(v fsm.Team, _ []string) fsm.Payload { return &fsm.UpdateTeam{Team: v} },
		onDelete: func(id string) fsm.Payload { return &fsm.DeleteTeam{ID: id} },
	}
}

func (s *Server) ownersResource() *crud[fsm.Owner] {
	return &crud[fsm.Owner]{s: s, tag: "owners", idPrefix: "o-", wire: wire.Owner{}, wireList: wire.List[wire.Owner]{},
		id:   func(v *fsm.Owner) *string { return &v.ID },
		read: s.state.Owner,
		readList: func(c *gin.Context, p fsm.Page) (fsm.List[fsm.Owner], error) {
			return s.state.Owners(fsm.OwnerFilter{TeamID: c.Query("team_id")}, p)
		},
		onCreate: func(v fsm.Owner) fsm.Payload { return &fsm.CreateOwner{Owner: v} },
		onUpdate: func(v fsm.Owner, _ []string) fsm.Payload { return &fsm.UpdateOwner{Owner: v} },
		onDelete: func(id string) fsm.Payload { return &fsm.DeleteOwner{ID: id} },
	}
}

func (s *Server) issuersResource() *crud[fsm.Issuer] {
	return &crud[fsm.Issuer]{s: s, tag: "issuers", idPrefix: "iss-", wire: wire.Issuer{}, wireList: wire.List[wire.Issuer]{},
		id:      func(v *fsm.Issuer) *string { return &v.ID },
		prepare: func(v *fsm.Issuer) { emptyObject(&v.Config) },
		check: func(c *gin.Context, v *fsm.Issuer) error {
			typ, known := fsm.IssuerTypes.Canonical(string(v.Type))
			if s.cfg.IssuerTypes == nil || !known {
				return nil // the state names an unknown type
			}
			return s.cfg.IssuerTypes.ValidateConfig(c.Request.Context(), string(typ), v.Config)
		},
		protect:  s.protectIssuer,
		view:     s.redactIssuer,
		cleared:  func(v *fsm.Issuer, fields []string) any { return issuerAnswer{Issuer: v, SecretsCleared: fields} },
		read:     s.state.Issuer,
		readList: func(_ *gin.Context, p fsm.Page) (fsm.List[fsm.Issuer], error) { return s.state.Issuers(p) },
		onCreate: func(v fsm.Issuer) fsm.Payload { return &fsm.CreateIssuer{Issuer: v} },
		onUpdate: func(v fsm.Issuer, cleared []string) fsm.Payload {
			return &fsm.UpdateIssuer{Issuer: v, ClearedSecrets: cleared}
		},
		onDelete: func(id string) fsm.Payload { return &fsm.DeleteIssuer{ID: id} },
	}
}

func (s *Server) targetsResource() *crud[fsm.Target] {
	return &crud[fsm.Target]{s: s, tag: "targets", idPrefix: "tgt-", wire: wire.Target{}, wireList: wire.List[wire.Target]{},
		id:      func(v *fsm.Target) *string { return &v.ID },
		prepare: func(v *fsm.Target) { emptyObject(&v.Config) },
		protect: s.protectTarget,
		view:    s.redactTarget,
		cleared: func(v *fsm.Target, fields []string) any { return targetAnswer{Target: v, SecretsCleared: fields} },
		read:    s.state.Target,
		readList: func(c *gin.Context, p fsm.Page) (fsm.List[fsm.Target], error) {
			typ := wire.TargetType(c.Query("type"))
			if canon, ok := fsm.TargetTypes.Canonical(string(typ)); ok {
				typ = canon
			}
			return s.state.Targets(fsm.TargetFilter{AgentID: c.Query("agent_id"), Type: typ}, p)
		},
		onCreate: func(v fsm.Target) fsm.Payload { return &fsm.CreateTarget{Target: v} },
		onUpdate: func(v fsm.Target, cleared []string) fsm.Payload {
			return &fsm.UpdateTarget{Target: v, ClearedSecrets: cleared}
		},
		onDelete: func(id string) fsm.Payload { return &fsm.DeleteTarget{ID: id} },
	}
}

func (s *Server) policyRulesResource() *crud[fsm.PolicyRule] {
	return &crud[fsm.PolicyRule]{s: s, tag: "policies", idPrefix: "pr-", wire: wire.PolicyRule{}, wireList: wire.List[wire.PolicyRule]{},
		id:       func(v *fsm.PolicyRule) *string { return &v.ID },
		prepare:  func(v *fsm.PolicyRule) { emptyObject(&v.Config) },
		read:     s.state.PolicyRule,
		readList: func(_ *gin.Context, p fsm.Page) (fsm.List[fsm.PolicyRule], error) { return s.state.PolicyRules(p) },
		onCreate: func(v fsm.PolicyRule) fsm.Payload { return &fsm.CreatePolicyRule{Rule: v, Sweep: true} },
		onUpdate: func(v fsm.PolicyRule, _ []string) fsm.Payload { return &fsm.UpdatePolicyRule{Rule: v, Sweep: true} },
		onDelete: func(id string) fsm.Payload { return &fsm.DeletePolicyRule{ID: id} },
	}
}

// renewalPolicyRequest holds the renewal policy fields whose absence means
// the original's defaults (auto_renew true, 3 retries, 60 minutes, 30/14/7/0).
type renewalPolicyRequest struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	RenewalWindowDays    *int              `json:"renewal_window_days"`
	AutoRenew            *bool             `json:"auto_renew"`
	MaxRetries           *int              `json:"max_retries"`
	RetryIntervalMinutes *int              `json:"retry_interval_minutes"`
	AlertThresholdsDays  []int             `json:"alert_thresholds_days"`
	Notify               []fsm.NotifyRoute `json:"notify"`
}

func (r renewalPolicyRequest) policy() fsm.RenewalPolicy {
	p := fsm.DefaultRenewalPolicy()
	p.ID, p.Name, p.RenewalWindowDays = r.ID, r.Name, r.RenewalWindowDays
	if r.AutoRenew != nil {
		p.AutoRenew = *r.AutoRenew
	}
	if r.MaxRetries != nil {
		p.MaxRetries = *r.MaxRetries
	}
	if r.RetryIntervalMinutes != nil {
		p.RetryIntervalMinutes = *r.RetryIntervalMinutes
	}
	if r.AlertThresholdsDays != nil {
		p.AlertThresholdsDays = r.AlertThresholdsDays
	}
	p.Notify = r.Notify
	return p
}

func (s *Server) renewalPoliciesResource() *crud[fsm.RenewalPolicy] {
	return &crud[fsm.RenewalPolicy]{s: s, tag: "renewal policies", idPrefix: "rp-", wire: wire.RenewalPolicy{}, wireList: wire.List[wire.RenewalPolicy]{},
		id: func(v *fsm.RenewalPolicy) *string { return &v.ID },
		bind: func(c *gin.Context) (fsm.RenewalPolicy, bool) {
			var r renewalPolicyRequest
			ok := bindJSON(c, &r)
			return r.policy(), ok
		},
		read: s.state.RenewalPolicy,
		readList: func(_ *gin.Context, p fsm.Page) (fsm.List[fsm.RenewalPolicy], error) {
			return s.state.RenewalPolicies(p)
		},
		onCreate: func(v fsm.RenewalPolicy) fsm.Payload { return &fsm.CreateRenewalPolicy{Policy: v} },
		onUpdate: func(v fsm.RenewalPolicy, _ []string) fsm.Payload { return &fsm.UpdateRenewalPolicy{Policy: v} },
		onDelete: func(id string) fsm.Payload { return &fsm.DeleteRenewalPolicy{ID: id} },
	}
}

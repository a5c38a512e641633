package api_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// jsonFields lists the JSON names of a struct's fields, embedded ones included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			out = append(out, jsonFields(ft)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && f.IsExported() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// The handlers serve the state machine's records as they are stored, and the
// client and the agent decode them into package wire's types: the two must
// name the same fields, or a field is silently lost on one side.
func TestWire_TypesMatchTheServedRecords(t *testing.T) {
	cases := []struct {
		served, wire any
		servedOnly   []string // stored but never served
	}{
		{fsm.Team{}, wire.Team{}, nil},
		{fsm.Owner{}, wire.Owner{}, nil},
		{fsm.RenewalPolicy{}, wire.RenewalPolicy{}, nil},
		{api.IssuerAnswer{}, wire.Issuer{}, nil}, // an fsm.Issuer, and the secrets an update cleared
		{fsm.Agent{}, wire.Agent{}, []string{"api_key_hash"}},
		{fsm.Certificate{}, wire.Certificate{}, nil},
		{fsm.CertificateVersion{}, wire.CertificateVersion{}, nil},
		{api.TargetAnswer{}, wire.Target{}, nil}, // an fsm.Target, and the secrets an update cleared
		{fsm.Job{}, wire.Job{}, nil},
		{fsm.PolicyRule{}, wire.PolicyRule{}, nil},
		{fsm.PolicyViolation{}, wire.PolicyViolation{}, nil},
		{fsm.AuditEvent{}, wire.AuditEvent{}, nil},
		{fsm.Notification{}, wire.Notification{}, nil},
		{fsm.AuditVerification{}, wire.AuditVerification{}, nil},
		{fsm.JoinToken{}, wire.JoinToken{}, []string{"hash"}},
		{fsm.AuditHead{}, wire.AuditHead{}, nil},
	}
	for _, tc := range cases {
		st, wt := reflect.TypeOf(tc.served), reflect.TypeOf(tc.wire)
		t.Run(st.Name(), func(t *testing.T) {
			var served []string
			for _, f := range jsonFields(st) {
				if !contains(tc.servedOnly, f) {
					served = append(served, f)
				}
			}
			assert.Equal(t, served, jsonFields(wt))
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

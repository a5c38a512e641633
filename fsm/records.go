package fsm

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// table describes a resource stored as one JSON record per id.
type table struct {
	bucket   []byte
	resource string // singular, as in errors and audit resource_type
}

var (
	teamsTable           = table{bucketTeams, "team"}
	ownersTable          = table{bucketOwners, "owner"}
	renewalPoliciesTable = table{bucketRenewalPolicies, "renewal_policy"}
	issuersTable         = table{bucketIssuers, "issuer"}
	targetsTable         = table{bucketTargets, "target"}
	policyRulesTable     = table{bucketPolicyRules, "policy_rule"}
	agentsTable          = table{bucketAgents, "agent"}
	certificatesTable    = table{bucketCertificates, "certificate"}
)

// reference is a foreign key of a record: bucket[id] must exist.
type reference struct {
	bucket   []byte
	resource string
	field    string
	id       string
}

func (t *txn) checkRefs(refs []reference) error {
	for _, r := range refs {
		if err := t.requireExists(r.bucket, r.resource, r.field, r.id); err != nil {
			return err
		}
	}
	return nil
}

// moveRefs keeps the per-record reference counts that let a delete of a record
// still in use fail without scanning every table that could point at it.
func (t *txn) moveRefs(old, new []reference) {
	for _, r := range old {
		if r.id != "" {
			t.addCount(-1, "ref", string(r.bucket), r.id)
		}
	}
	for _, r := range new {
		if r.id != "" {
			t.addCount(1, "ref", string(r.bucket), r.id)
		}
	}
}

func refCount(tx *bolt.Tx, bucket []byte, id string) int {
	return readCount(tx, "ref", string(bucket), id)
}

// record is implemented (on pointers) by the resources kept in a table.
type record interface {
	recordID() string
	uniqueName() string // key in the names index; "" when the name need not be unique
	references() []reference
	stamp(created, updated time.Time)
	createdAt() time.Time
	auditDetails() any
}

// recordPtr lets the generic helpers below take a value type R and call the
// record methods on *R.
type recordPtr[R any] interface {
	*R
	record
}

func getRecord[R any, P recordPtr[R]](tx *bolt.Tx, tab table, id string) (*R, error) {
	var r R
	found, err := getJSON(tx.Bucket(tab.bucket), []byte(id), &r)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(tab.resource, id)
	}
	return &r, nil
}

func createRecord[R any, P recordPtr[R]](t *txn, tab table, rec P) (any, error) {
	id := rec.recordID()
	if t.exists(tab.bucket, id) {
		return nil, conflictf(tab.resource, id, "%s %q already exists", tab.resource, id)
	}
	name := rec.uniqueName()
	if name != "" {
		if err := t.checkNameFree(tab.bucket, tab.resource, name, id); err != nil {
			return nil, err
		}
	}
	refs := rec.references()
	if err := t.checkRefs(refs); err != nil {
		return nil, err
	}
	rec.stamp(t.now(), t.now())
	putJSON(t.bucket(tab.bucket), []byte(id), rec)
	t.setName(tab.bucket, "", name, id)
	t.moveRefs(nil, refs)
	t.addCount(1, string(tab.bucket))
	t.audit(tab.resource+"_created", tab.resource, id, rec.auditDetails())
	return *rec, nil
}

func updateRecord[R any, P recordPtr[R]](t *txn, tab table, rec P) (any, error) {
	id := rec.recordID()
	old, err := getRecord[R, P](t.tx, tab, id)
	if err != nil {
		return nil, err
	}
	oldP := P(old)
	name := rec.uniqueName()
	if name != "" {
		if err := t.checkNameFree(tab.bucket, tab.resource, name, id); err != nil {
			return nil, err
		}
	}
	refs := rec.references()
	if err := t.checkRefs(refs); err != nil {
		return nil, err
	}
	rec.stamp(oldP.createdAt(), t.now())
	putJSON(t.bucket(tab.bucket), []byte(id), rec)
	t.setName(tab.bucket, oldP.uniqueName(), name, id)
	t.moveRefs(oldP.references(), refs)
	t.audit(tab.resource+"_updated", tab.resource, id, rec.auditDetails())
	return *rec, nil
}

func deleteRecord[R any, P recordPtr[R]](t *txn, tab table, id string) (any, error) {
	old, err := getRecord[R, P](t.tx, tab, id)
	if err != nil {
		return nil, err
	}
	if n := refCount(t.tx, tab.bucket, id); n > 0 {
		return nil, conflictf(tab.resource, id, "%s %q is still referenced by %d record(s); reassign or remove them first", tab.resource, id, n)
	}
	oldP := P(old)
	must(t.bucket(tab.bucket).Delete([]byte(id)))
	t.setName(tab.bucket, oldP.uniqueName(), "", id)
	t.moveRefs(oldP.references(), nil)
	t.addCount(-1, string(tab.bucket))
	t.audit(tab.resource+"_deleted", tab.resource, id, oldP.auditDetails())
	return nil, nil
}

// Get returns the record with id from one of the tables, or a not-found error.
func get[R any, P recordPtr[R]](f *FSM, tab table, id string) (*R, error) {
	var out *R
	err := f.view(func(tx *bolt.Tx) error {
		r, err := getRecord[R, P](tx, tab, id)
		out = r
		return err
	})
	return out, err
}

func describe(resource, id string) string { return fmt.Sprintf("%s %q", resource, id) }

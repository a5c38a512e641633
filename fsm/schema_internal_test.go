package fsm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillAll sets every field reachable from v to a value that is not its zero
// value (pointers allocated, slices and maps of one element), each distinct,
// so that a field one type has and another lacks shows in their JSON.
func fillAll(t *testing.T, v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(t, v.Index(0), n)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(t, k, n)
		fillAll(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, *n, *n, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fillAll(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fillAll: no value for a %s", v.Type())
	}
}

// TestSchema_StoredCertificateIsItsWireForm proves what storedCertificateIsWire
// claims: the stored bytes of a certificate (its certificateRecord) are the
// JSON the API would make of the Certificate, for a certificate with every
// field set and for one with every optional field empty, and they read back
// as the same Certificate. A field added to one type and not the other, or a
// tag changed, fails here; then either give the record the field (with a
// migration) or set storedCertificateIsWire false.
func TestSchema_StoredCertificateIsItsWireForm(t *testing.T) {
	require.True(t, storedCertificateIsWire, "with the fast path off this test has nothing to prove")
	var full Certificate
	n := 0
	fillAll(t, reflect.ValueOf(&full).Elem(), &n)
	cases := map[string]Certificate{
		"every field set": full,
		"optional fields empty": {ID: "mc-1", Name: "one", CommonName: "one.example.com", Status: CertPending,
			CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			stored, err := marshalStored(&c)
			require.NoError(t, err)
			wire, err := json.Marshal(&c)
			require.NoError(t, err)
			assert.Equal(t, string(wire), string(stored))

			served, err := wireCertificate(stored)
			require.NoError(t, err)
			assert.Equal(t, string(wire), string(served))

			var back Certificate
			require.NoError(t, unmarshalStored(stored, &back))
			assert.Equal(t, c, back)
		})
	}
}

// TestSchema_MigrationsInOrder checks the list of migrations: one step per
// version from 2 to schemaVersion, and buckets added by a migration no later
// than the current version.
func TestSchema_MigrationsInOrder(t *testing.T) {
	require.Len(t, migrations, int(schemaVersion)-1)
	for i, m := range migrations {
		assert.EqualValues(t, i+2, m.to, "migration %d (%s)", i, m.what)
		assert.NotNil(t, m.run)
		assert.NotEmpty(t, m.what)
	}
	for b, v := range bucketSince {
		assert.LessOrEqual(t, v, uint64(schemaVersion), b)
		assert.Contains(t, allBuckets, []byte(b))
	}
}

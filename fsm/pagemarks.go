package fsm

import (
	"encoding/json"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// markEvery is how many keys apart the page marks are.
const markEvery = 256

// pageMarks remembers every markEvery-th key of the certificates bucket, so
// that a page deep in the unfiltered list is found by a seek and at most
// markEvery steps instead of a walk over everything before it. Certificates
// are never deleted, so their count names their key set: the marks are
// rebuilt only after a certificate was created (or a snapshot restored).
type pageMarks struct {
	mu    sync.Mutex
	count int // the certificate count the marks were built for; -1 for none
	marks [][]byte
}

// seek positions c on the key at offset of the bucket the cursor walks, as
// seen by tx, whose certificate count is count.
func (m *pageMarks) seek(tx *bolt.Tx, c *bolt.Cursor, count, offset int) (k, v []byte) {
	m.mu.Lock()
	if m.count != count || m.marks == nil {
		m.marks = m.marks[:0]
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i%markEvery == 0 {
				m.marks = append(m.marks, append([]byte(nil), k...))
			}
			i++
		}
		m.count = count
	}
	var start []byte
	if idx := offset / markEvery; idx < len(m.marks) {
		start = m.marks[idx]
	}
	m.mu.Unlock()
	if start == nil {
		return nil, nil
	}
	k, v = c.Seek(start)
	for i := 0; i < offset%markEvery && k != nil; i++ {
		k, v = c.Next()
	}
	return k, v
}

func (m *pageMarks) reset() {
	m.mu.Lock()
	m.count, m.marks = -1, nil
	m.mu.Unlock()
}

// certificatePage is one page of the unfiltered certificate list, in id order.
func (f *FSM) certificatePage(p Page) (List[json.RawMessage], error) {
	p = p.Normalize()
	out := List[json.RawMessage]{Items: []json.RawMessage{}}
	err := f.view(func(tx *bolt.Tx) error {
		out.Total = readCount(tx, string(bucketCertificates))
		c := tx.Bucket(bucketCertificates).Cursor()
		for k, v := f.certMarks.seek(tx, c, out.Total, p.offset()); k != nil && len(out.Items) < p.PerPage; k, v = c.Next() {
			out.Items = append(out.Items, append(json.RawMessage(nil), v...))
		}
		return nil
	})
	return out, err
}

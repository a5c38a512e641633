package fsm

import (
	"bytes"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Page selects a page of a list, as the original paged: page from 1, per_page
// 50 by default and 500 at most.
type Page struct {
	Page    int
	PerPage int
}

const (
	DefaultPerPage = 50
	MaxPerPage     = 500
	maxPage        = 1 << 31
)

// Normalize fills defaults and clamps PerPage to MaxPerPage.
func (p Page) Normalize() Page {
	if p.Page < 1 {
		p.Page = 1
	}
	if p.PerPage < 1 {
		p.PerPage = DefaultPerPage
	}
	if p.PerPage > MaxPerPage {
		p.PerPage = MaxPerPage
	}
	if p.Page > maxPage { // keeps the offset far from overflowing
		p.Page = maxPage
	}
	return p
}

func (p Page) offset() int { return (p.Page - 1) * p.PerPage }

// List is one page of results and the exact number of matches.
type List[T any] struct {
	Items []T
	Total int
}

// pager collects the items of one page while counting every match.
type pager[T any] struct {
	page  Page
	seen  int
	items []T
}

func newPager[T any](p Page) *pager[T] { return &pager[T]{page: p.Normalize(), items: []T{}} }

// wants reports whether the next match falls on the page, and counts it.
func (pg *pager[T]) wants() bool {
	pg.seen++
	i := pg.seen - 1
	return i >= pg.page.offset() && i < pg.page.offset()+pg.page.PerPage
}

// full reports whether the page is complete, for callers that know the total.
func (pg *pager[T]) full() bool { return len(pg.items) >= pg.page.PerPage }

func (pg *pager[T]) add(v T) { pg.items = append(pg.items, v) }

// scanBucket walks every record of a bucket in key order, paging the ones
// match accepts. With a nil match the total comes from the counter and the
// walk skips to the page instead of decoding everything.
func scanBucket[T any](tx *bolt.Tx, bucket []byte, p Page, match func(*T) bool) (List[T], error) {
	pg := newPager[T](p)
	c := tx.Bucket(bucket).Cursor()
	if match == nil {
		total := readCount(tx, string(bucket))
		k, v := c.First()
		for i := 0; k != nil && i < pg.page.offset(); i++ {
			k, v = c.Next()
		}
		for ; k != nil && !pg.full(); k, v = c.Next() {
			var r T
			if err := unmarshalStored(v, &r); err != nil {
				return List[T]{}, unreadable(k, err)
			}
			pg.add(r)
		}
		return List[T]{Items: pg.items, Total: total}, nil
	}
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r T
		if err := unmarshalStored(v, &r); err != nil {
			return List[T]{}, unreadable(k, err)
		}
		if match(&r) && pg.wants() {
			pg.add(r)
		}
	}
	return List[T]{Items: pg.items, Total: pg.seen}, nil
}

// scanIndex walks the keys of an index bucket under pfx, resolving each id
// (the key's tail after pfx, minus skip bytes of ordering prefix) in bucket.
func scanIndex[T any](tx *bolt.Tx, index, pfx []byte, skip int, bucket []byte, p Page, match func(*T) bool) (List[T], error) {
	pg := newPager[T](p)
	records := tx.Bucket(bucket)
	c := tx.Bucket(index).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		id := k[len(pfx)+skip:]
		if match == nil {
			if !pg.wants() {
				continue
			}
		}
		var r T
		found, err := getJSON(records, id, &r)
		if err != nil {
			return List[T]{}, err
		}
		if !found {
			continue
		}
		if match != nil && !(match(&r) && pg.wants()) {
			continue
		}
		pg.add(r)
	}
	return List[T]{Items: pg.items, Total: pg.seen}, nil
}

// rawIndexCounted pages the records under pfx of an index whose number of
// entries is known (a counter), as stored bytes: it reads only the page, never
// the whole range, so a list filtered by status costs the same at any size.
func rawIndexCounted(tx *bolt.Tx, index, pfx []byte, bucket []byte, p Page, total int) (List[json.RawMessage], error) {
	p = p.Normalize()
	items := []json.RawMessage{}
	records := tx.Bucket(bucket)
	c := tx.Bucket(index).Cursor()
	k, _ := c.Seek(pfx)
	for i := 0; i < p.offset() && k != nil && bytes.HasPrefix(k, pfx); i++ {
		k, _ = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, pfx) && len(items) < p.PerPage; k, _ = c.Next() {
		if v := records.Get(k[len(pfx):]); v != nil {
			items = append(items, append(json.RawMessage(nil), v...))
		}
	}
	return List[json.RawMessage]{Items: items, Total: total}, nil
}

// decodeAll decodes stored records into T.
func decodeAll[T any](raw List[json.RawMessage]) (List[T], error) {
	out := List[T]{Items: make([]T, len(raw.Items)), Total: raw.Total}
	for i, b := range raw.Items {
		if err := unmarshalStored(b, &out.Items[i]); err != nil {
			return List[T]{}, &Error{Code: CodeInternal, Message: "stored record is unreadable: " + err.Error()}
		}
	}
	return out, nil
}

func unreadable(k []byte, err error) error {
	return &Error{Code: CodeInternal, Message: "stored record " + string(k) + " is unreadable: " + err.Error()}
}

// Counts returns the number of records of each of the fourteen tables.
func (f *FSM) Counts() (map[string]int, error) {
	out := map[string]int{}
	err := f.view(func(tx *bolt.Tx) error {
		for _, b := range allBuckets[:14] {
			out[string(b)] = tx.Bucket(b).Stats().KeyN
		}
		return nil
	})
	return out, err
}

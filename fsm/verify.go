package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// A snapshot arrives from another node and is read before it is trusted.
// bbolt trusts its pages: a damaged one makes it panic, fault on an address
// past the end of the file, or loop on a page that refers to itself, and its
// consistency check and its rebuild of a free list that was never synced (ours
// never is) run in goroutines of their own, where a panic ends the process.
// So a received file is first checked here, reading pages with ReadAt and
// following every reference once, then read through bbolt in the calling
// goroutine with faults turned into panics that are recovered, and finally
// copied into a fresh file that bbolt writes itself.

// On-disk layout of bbolt pages (go.etcd.io/bbolt/internal/common), stable
// since boltdb: a 16-byte header (id, flags, count, overflow) and 16-byte
// elements whose key and value offsets are relative to the element.
const (
	pageHeaderSize  = 16
	pageElementSize = 16
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
	bucketValueSize = 16 // root page id and sequence; an inline page follows when the root is 0
)

// bbolt writes its pages in the machine's byte order.
var pageOrder = binary.NativeEndian

// checkStructure checks that the file at path, opened read-only as db, is
// complete and that every page reachable from tx's root lies within the file,
// is referenced once, identifies as itself, is a branch or leaf page and keeps
// its elements inside itself: what bbolt assumes of every page it reads.
func checkStructure(path string, db *bolt.DB, tx *bolt.Tx) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("not a state file: %w", err)
	}
	if info.Size() < tx.Size() {
		return fmt.Errorf("state file is truncated: %d bytes of %d", info.Size(), tx.Size())
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("not a state file: %w", err)
	}
	defer file.Close()
	pageSize := db.Info().PageSize
	c := &pageChecker{r: file, pageSize: int64(pageSize), pages: uint64(tx.Size()) / uint64(pageSize), seen: map[uint64]bool{}}
	if err := c.tree(uint64(tx.Cursor().Bucket().Root())); err != nil {
		return fmt.Errorf("state file is damaged: %w", err)
	}
	return nil
}

// pageChecker follows page references through ReadAt, never through a memory
// map, and visits each page once, so damage cannot fault or loop.
type pageChecker struct {
	r        io.ReaderAt
	pageSize int64
	pages    uint64 // pages in use, meta pages included
	seen     map[uint64]bool
}

func (c *pageChecker) tree(root uint64) error {
	stack := []uint64{root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p, err := c.page(id)
		if err != nil {
			return err
		}
		refs, err := c.elements(id, p)
		if err != nil {
			return err
		}
		stack = append(stack, refs...)
	}
	return nil
}

// page reads page id with its overflow pages.
func (c *pageChecker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.pages {
		return nil, fmt.Errorf("page %d is out of bounds (%d pages)", id, c.pages)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := c.r.ReadAt(hdr, int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := pageOrder.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d identifies as page %d", id, got)
	}
	last := id + uint64(pageOrder.Uint32(hdr[12:]))
	if last >= c.pages {
		return nil, fmt.Errorf("page %d overflows past the last page (%d pages)", id, c.pages)
	}
	for i := id; i <= last; i++ {
		if c.seen[i] {
			return nil, fmt.Errorf("page %d is referenced twice", i)
		}
		c.seen[i] = true
	}
	p := make([]byte, int64(last-id+1)*c.pageSize)
	if _, err := c.r.ReadAt(p, int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// elements checks the elements of p, a page or an inline bucket's page, and
// returns the ids of the pages they refer to.
func (c *pageChecker) elements(id uint64, p []byte) ([]uint64, error) {
	if len(p) < pageHeaderSize {
		return nil, fmt.Errorf("page %d: inline page is too short", id)
	}
	flags, count := pageOrder.Uint16(p[8:]), int(pageOrder.Uint16(p[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return nil, fmt.Errorf("page %d has type %#x, not branch or leaf", id, flags)
	}
	if pageHeaderSize+count*pageElementSize > len(p) {
		return nil, fmt.Errorf("page %d: %d elements do not fit in it", id, count)
	}
	var refs []uint64
	for i := range count {
		off := pageHeaderSize + i*pageElementSize
		e := p[off:]
		if flags == branchPageFlag {
			end := uint64(off) + uint64(pageOrder.Uint32(e)) + uint64(pageOrder.Uint32(e[4:]))
			if end > uint64(len(p)) {
				return nil, fmt.Errorf("page %d: element %d lies outside the page", id, i)
			}
			refs = append(refs, pageOrder.Uint64(e[8:]))
			continue
		}
		start := uint64(off) + uint64(pageOrder.Uint32(e[4:]))
		vstart := start + uint64(pageOrder.Uint32(e[8:]))
		end := vstart + uint64(pageOrder.Uint32(e[12:]))
		if end > uint64(len(p)) {
			return nil, fmt.Errorf("page %d: element %d lies outside the page", id, i)
		}
		if pageOrder.Uint32(e)&bucketLeafFlag == 0 {
			continue
		}
		v := p[vstart:end]
		if len(v) < bucketValueSize {
			return nil, fmt.Errorf("page %d: bucket element %d is too short", id, i)
		}
		if root := pageOrder.Uint64(v); root != 0 {
			refs = append(refs, root)
			continue
		}
		inline, err := c.elements(id, v[bucketValueSize:])
		if err != nil {
			return nil, err
		}
		refs = append(refs, inline...)
	}
	return refs, nil
}

// walkFile calls fn for each top-level bucket of tx (with k and v nil) and
// then for each of its keys in order, checking that keys strictly increase.
// It reads through bbolt in the calling goroutine with faults turned into
// panics, and recovers them: whatever checkStructure cannot see becomes an
// error, not a crash. fn may be nil.
func walkFile(tx *bolt.Tx, fn func(bucket, k, v []byte) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable page: %v", r)
		}
	}()
	if fn == nil {
		fn = func(_, _, _ []byte) error { return nil }
	}
	var prevName []byte
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if prevName != nil && bytes.Compare(name, prevName) <= 0 {
			return fmt.Errorf("bucket %q is out of order", name)
		}
		prevName = name
		if err := fn(name, nil, nil); err != nil {
			return err
		}
		var prev []byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if prev != nil && bytes.Compare(k, prev) <= 0 {
				return fmt.Errorf("bucket %q: key %x is out of order", name, k)
			}
			if v == nil && b.Bucket(k) != nil {
				return fmt.Errorf("bucket %q: unexpected nested bucket %x", name, k)
			}
			prev = k
			crc32.ChecksumIEEE(v) // read the value: a bad length faults here, not later
			if err := fn(name, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// rebuildFile checks the bbolt file src and copies every bucket, key and value
// into the new file dst, synced. dst is written by bbolt itself, so the
// snapshot's own pages never become the state.
func rebuildFile(src, dst string) (err error) {
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: 0})
	if err != nil {
		return fmt.Errorf("not a state file: %w", err)
	}
	defer in.Close()
	out, err := bolt.Open(dst, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", dst, cerr)
		}
	}()
	return in.View(func(tx *bolt.Tx) error {
		if err := checkStructure(src, in, tx); err != nil {
			return err
		}
		w := &copier{db: out}
		defer w.rollback()
		if err := walkFile(tx, w.put); err != nil {
			return fmt.Errorf("state file is damaged: %w", err)
		}
		return w.commit()
	})
}

// copyTxBytes bounds the data one write transaction of rebuildFile holds.
const copyTxBytes = 16 << 20

// copier writes what walkFile reads into a bbolt file, in transactions of
// about copyTxBytes so a large state is never held in memory at once.
type copier struct {
	db     *bolt.DB
	tx     *bolt.Tx
	b      *bolt.Bucket
	bucket []byte
	size   int
}

func (c *copier) put(bucket, k, v []byte) error {
	if c.tx == nil || c.size >= copyTxBytes {
		if err := c.commit(); err != nil {
			return err
		}
		tx, err := c.db.Begin(true)
		if err != nil {
			return err
		}
		c.tx, c.size = tx, 0
		if c.bucket != nil {
			c.b = tx.Bucket(c.bucket)
		}
	}
	if k == nil {
		b, err := c.tx.CreateBucket(bucket)
		if err != nil {
			return fmt.Errorf("bucket %q: %w", bucket, err)
		}
		c.b, c.bucket = b, bytes.Clone(bucket)
		return nil
	}
	c.size += len(k) + len(v)
	return c.b.Put(bytes.Clone(k), bytes.Clone(v))
}

func (c *copier) commit() error {
	if c.tx == nil {
		return nil
	}
	tx := c.tx
	c.tx, c.b = nil, nil
	return tx.Commit()
}

func (c *copier) rollback() {
	if c.tx != nil {
		_ = c.tx.Rollback()
		c.tx = nil
	}
}

package fsm_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_RestoredJobsLeaseRunsOut: a job leased when the snapshot was taken
// is refused to another holder until its lease runs out, then handed out
// again; a job the snapshot holds as completed is never claimed again.
func TestFSM_RestoredJobsLeaseRunsOut(t *testing.T) {
	src, l := seeded(t)
	claimed(l, fsmtest.Job("job-leased", fsm.JobRenewal), fsmtest.Job("job-done", fsm.JobRenewal))
	l.Must(&fsm.CompleteJob{JobID: "job-done", Holder: "node-1"})
	data := fsmtest.Snapshot(t, src)

	dst := fsmtest.Open(t)
	require.NoError(t, restore(dst, data))
	r := fsmtest.NewLog(t, dst)
	r.Index, r.Now = dst.AppliedIndex(), l.Now.Add(time.Minute)

	res := r.Apply(&fsm.ClaimJob{JobID: "job-leased", Holder: "scheduler/new", LeaseUntil: r.Now.Add(time.Minute)})
	assert.ErrorIs(t, res.Err, fsm.ErrLeaseHeld, "the lease of the snapshot still holds")
	res = r.Apply(&fsm.ClaimJob{JobID: "job-done", Holder: "scheduler/new", LeaseUntil: r.Now.Add(time.Minute)})
	assert.Error(t, res.Err, "a completed job is not run again")

	r.Now = at(5 * time.Minute) // the snapshot's lease ends
	res = r.Apply(&fsm.ClaimJob{JobID: "job-leased", Holder: "scheduler/new", LeaseUntil: r.Now.Add(time.Minute)})
	require.NoError(t, res.Err)
	j, err := dst.Job("job-leased")
	require.NoError(t, err)
	assert.Equal(t, "scheduler/new", j.LeaseHolder)
	assert.Equal(t, 2, j.Attempts)
	done, err := dst.Job("job-done")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobCompleted, done.Status)
}

// TestFSM_CarryIdentity: the cluster's id, CA, members, join tokens and
// node certificate revocations of the running state replace the file's (its
// revocations are kept and added to); every other table stays the file's.
func TestFSM_CarryIdentity(t *testing.T) {
	saved, sl := seeded(t)
	sl.Must(&fsm.InitCluster{ClusterID: "saved-cluster"})
	sl.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "old-1", RaftAddr: "10.0.0.1:8300", APIAddr: "10.0.0.1:8443"}})
	sl.Must(&fsm.RecordNodeCert{NodeID: "old-1", Serial: "0a", NotAfter: at(time.Hour)})
	sl.Must(&fsm.RemoveMember{NodeID: "old-1"})
	sl.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-saved", "Saved")})
	want := stateHash(t, saved)

	cur, cl := seeded(t)
	cl.Must(&fsm.InitCluster{ClusterID: "running-cluster"})
	cl.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "n1", RaftAddr: "10.0.1.1:8300", APIAddr: "10.0.1.1:8443"}})
	cl.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "gone", RaftAddr: "10.0.1.9:8300", APIAddr: "10.0.1.9:8443"}})
	cl.Must(&fsm.RecordNodeCert{NodeID: "gone", Serial: "0b", NotAfter: at(time.Hour)})
	cl.Must(&fsm.RemoveMember{NodeID: "gone"})

	path := filepath.Join(t.TempDir(), "body.db")
	require.NoError(t, os.WriteFile(path, fsmtest.Snapshot(t, saved), 0o600))
	require.NoError(t, cur.CarryIdentity(path, nil))
	require.NoError(t, fsm.VerifyFile(path))

	got := fsmtest.Open(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, restore(got, raw))
	id, err := got.ClusterID()
	require.NoError(t, err)
	assert.Equal(t, "running-cluster", id)
	members, err := got.Members()
	require.NoError(t, err)
	require.Len(t, members, 1)
	assert.Equal(t, "n1", members[0].NodeID)
	for _, serial := range []string{"0a", "0b"} {
		revoked, err := got.NodeCertRevoked(serial)
		require.NoError(t, err)
		assert.True(t, revoked, "serial %s", serial)
	}
	_, err = got.Team("team-saved")
	assert.NoError(t, err)
	gotHash := stateHash(t, got)
	for table, h := range want {
		switch table {
		case "meta", "members", "join_tokens", "node_cert_revocations":
			continue
		}
		assert.Equal(t, h, gotHash[table], "table %s", table)
	}
}

// TestFSM_ForgetMembers: every member but the kept ones is removed and its
// node certificates revoked.
func TestFSM_ForgetMembers(t *testing.T) {
	f, l := seeded(t)
	for _, id := range []string{"n1", "n2", "n3"} {
		l.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: id, RaftAddr: id + ":8300", APIAddr: id + ":8443"}})
	}
	l.Must(&fsm.RecordNodeCert{NodeID: "n2", Serial: "02", NotAfter: at(time.Hour)})
	l.Must(&fsm.RecordNodeCert{NodeID: "n1", Serial: "01", NotAfter: at(time.Hour)})
	path := filepath.Join(t.TempDir(), "body.db")
	require.NoError(t, os.WriteFile(path, fsmtest.Snapshot(t, f), 0o600))

	removed, err := fsm.ForgetMembers(path, []string{"n1"}, at(time.Minute))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"n2", "n3"}, removed)

	got := fsmtest.Open(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, restore(got, raw))
	members, err := got.Members()
	require.NoError(t, err)
	require.Len(t, members, 1)
	assert.Equal(t, "n1", members[0].NodeID)
	for serial, want := range map[string]bool{"01": false, "02": true} {
		revoked, err := got.NodeCertRevoked(serial)
		require.NoError(t, err)
		assert.Equal(t, want, revoked, "serial %s", serial)
	}
}

// TestFSM_CarryIdentityKeepsRevocations: a certificate revoked in the running
// cluster after the file was saved stays on its issuer's CRL once the file
// is restored; revoking it again moves only its status.
func TestFSM_CarryIdentityKeepsRevocations(t *testing.T) {
	version := fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour)
	saved, sl := seeded(t)
	sl.Must(&fsm.RecordVersion{Version: version})
	cur, cl := seeded(t)
	cl.Must(&fsm.RecordVersion{Version: version})
	cl.Must(&fsm.RequestRevocation{CertificateID: fsmtest.CertificateID, Reason: "keyCompromise"})
	want, err := cur.Revocations(fsmtest.IssuerID)
	require.NoError(t, err)
	require.Len(t, want, 1)

	path := filepath.Join(t.TempDir(), "body.db")
	require.NoError(t, os.WriteFile(path, fsmtest.Snapshot(t, saved), 0o600))
	require.NoError(t, cur.CarryIdentity(path, nil))
	require.NoError(t, fsm.VerifyFile(path))
	got := fsmtest.Open(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, restore(got, raw))

	revs, err := got.Revocations(fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, want, revs, "the revocation made after the save is still on the CRL")
	c, err := got.Certificate(fsmtest.CertificateID)
	require.NoError(t, err)
	assert.Equal(t, fsm.CertActive, c.Status, "the inventory is the file's")

	gl := fsmtest.NewLog(t, got)
	gl.Index, gl.Now = 1000, fsmtest.T0.Add(time.Hour)
	res := gl.Apply(&fsm.RequestRevocation{CertificateID: fsmtest.CertificateID, Reason: "keyCompromise"})
	require.NoError(t, res.Err)
	assert.Empty(t, res.Value.(fsm.RevocationResult).SerialNumbers, "its serial was on the CRL already")
	revs, err = got.Revocations(fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, want, revs)
}

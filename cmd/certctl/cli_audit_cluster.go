package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// memberAskTimeout bounds the questions put to one member, so that a member
// that hangs is reported instead of holding the whole command.
const memberAskTimeout = 30 * time.Second

// Verdicts of audit verify --cluster, one per member.
const (
	verdictAgrees     = "agrees"
	verdictDiffers    = "DIFFERS"
	verdictNoMajority = "NO MAJORITY"
	verdictBroken     = "BROKEN"
	verdictNoAnswer   = "NO ANSWER"
)

// clusterAudit is the outcome of audit verify --cluster (its -o json form).
type clusterAudit struct {
	AtIndex uint64        `json:"at_index"`
	Agree   bool          `json:"agree"`
	Members []memberAudit `json:"members"`
}

// memberAudit is one member's head as of the common index and its own check
// of its chain. Verdict is agrees, DIFFERS (from the majority's head), NO
// MAJORITY (no head is held by more than half of the members), BROKEN (its
// own check failed) or NO ANSWER, with Error saying why.
type memberAudit struct {
	NodeID       string                  `json:"node_id"`
	APIAddr      string                  `json:"api_addr"`
	Head         *wire.AuditHead         `json:"head,omitempty"`
	Verification *wire.AuditVerification `json:"verification,omitempty"`
	Verdict      string                  `json:"verdict"`
	Error        string                  `json:"error,omitempty"`
}

// verifyCluster asks every member for its chain head as of one raft index,
// the lowest applied index among them so that each can answer, and for its
// own check of its chain; it names the members that differ from the
// majority, fail their check or do not answer.
func verifyCluster(ctx context.Context, inv *invocation) error {
	st, err := inv.client.Cluster(ctx)
	if err != nil {
		return err
	}
	if len(st.Members) == 0 {
		return errors.New("the cluster lists no members")
	}
	res := clusterAudit{}
	for _, m := range st.Members {
		if m.Error == "" && m.AppliedIndex > 0 && (res.AtIndex == 0 || m.AppliedIndex < res.AtIndex) {
			res.AtIndex = m.AppliedIndex
		}
	}
	if res.AtIndex == 0 {
		return fmt.Errorf("no member of the cluster reports its applied index (see certctl status)")
	}
	res.Members = make([]memberAudit, len(st.Members))
	var wg sync.WaitGroup
	for i, m := range st.Members {
		res.Members[i] = memberAudit{NodeID: m.NodeID, APIAddr: m.APIAddr}
		wg.Add(1)
		go func() {
			defer wg.Done()
			askMember(ctx, inv.client, &res.Members[i], res.AtIndex)
		}()
	}
	wg.Wait()
	judgeHeads(&res)

	if inv.json {
		err = printJSON(inv.out, res)
	} else {
		err = printClusterAudit(inv, res)
	}
	if err != nil {
		return err
	}
	return clusterAuditError(res)
}

// askMember fills m with the member's head at index at and its own check.
func askMember(ctx context.Context, c *client.Client, m *memberAudit, at uint64) {
	if m.APIAddr == "" {
		m.Verdict, m.Error = verdictNoAnswer, "no API address recorded for it"
		return
	}
	mc, err := c.ForServer(m.APIAddr)
	if err != nil {
		m.Verdict, m.Error = verdictNoAnswer, err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, memberAskTimeout)
	defer cancel()
	if m.Head, err = mc.AuditHead(ctx, at); err != nil {
		m.Verdict, m.Error = verdictNoAnswer, strings.TrimPrefix(err.Error(), "certctl: ")
		return
	}
	if m.Verification, err = mc.VerifyAudit(ctx); err != nil {
		m.Verdict, m.Error = verdictNoAnswer, strings.TrimPrefix(err.Error(), "certctl: ")
	}
}

// judgeHeads sets the verdict of every member that answered: the majority
// head is the one more than half of all members hold.
func judgeHeads(res *clusterAudit) {
	type head struct {
		seq  uint64
		hash string
	}
	counts := map[head]int{}
	for _, m := range res.Members {
		if m.Verdict == "" {
			counts[head{m.Head.Seq, m.Head.Hash}]++
		}
	}
	var majority *head
	for h, n := range counts {
		if 2*n > len(res.Members) {
			majority = &h
		}
	}
	res.Agree = majority != nil
	for i := range res.Members {
		m := &res.Members[i]
		if m.Verdict != "" { // no answer
			res.Agree = false
			continue
		}
		var verdicts []string
		switch {
		case majority == nil:
			verdicts = append(verdicts, verdictNoMajority)
		case (head{m.Head.Seq, m.Head.Hash}) != *majority:
			verdicts = append(verdicts, verdictDiffers)
		}
		if !m.Verification.Valid {
			verdicts = append(verdicts, verdictBroken)
		}
		if len(verdicts) == 0 {
			m.Verdict = verdictAgrees
			continue
		}
		m.Verdict = strings.Join(verdicts, ", ")
		res.Agree = false
	}
}

func printClusterAudit(inv *invocation, res clusterAudit) error {
	fmt.Fprintf(inv.out, "audit chain heads at raft index %d\n\n", res.AtIndex)
	t := newTable(inv.out, "NODE", "API ADDR", "SEQ", "HEAD", "CHAIN", "VERDICT")
	for _, m := range res.Members {
		seq, hash, chain := "", "", ""
		if m.Head != nil {
			seq, hash = strconv.FormatUint(m.Head.Seq, 10), m.Head.Hash
		}
		if v := m.Verification; v != nil {
			chain = "intact"
			if !v.Valid {
				chain = "broken"
				if b := v.FirstBreak; b != nil {
					chain += " at event " + strconv.FormatUint(b.Seq, 10)
				}
			}
			if !v.Keyed {
				chain += " (no audit key)"
			}
		}
		verdict := m.Verdict
		if m.Error != "" {
			verdict += ": " + m.Error
		}
		t.row(m.NodeID, m.APIAddr, seq, hash, chain, verdict)
	}
	return t.flush()
}

// clusterAuditError names the members that are not in agreement, or is nil.
func clusterAuditError(res clusterAudit) error {
	if res.Agree {
		return nil
	}
	var named []string
	for _, m := range res.Members {
		if m.Verdict != verdictAgrees {
			named = append(named, m.NodeID+" ("+m.Verdict+")")
		}
	}
	return fmt.Errorf("audit chains do not agree at raft index %d: %s", res.AtIndex, strings.Join(named, ", "))
}

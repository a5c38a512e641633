package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/certctl/certctl/fsm"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header,
// or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ProposeHandler serves ProposePath: it takes the sending node from its
// certificate (PeerNode; a token or an API key is never enough) and applies
// the forwarded command on this node if it leads (ApplyForwarded). It
// answers 200 with a ForwardResponse (its Error being the command's domain
// rejection), or an error status with {"index": 0, "error": {"code",
// "message"}}: 401 without a node certificate, 403 for a command the node
// may not send, 503 when this node does not lead.
func (n *Node) ProposeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeForwardError(w, errUsePost)
			return
		}
		peer, err := n.PeerNode(r)
		if err != nil {
			writeForwardError(w, fmt.Errorf("%w: %s takes a node certificate of this cluster only: %v", ErrUnauthorized, ProposePath, err))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBytes))
		if err != nil {
			writeForwardError(w, &CodedError{Code: CodeTooLarge, Message: "node: forwarded command too large or unreadable: " + err.Error()})
			return
		}
		resp, err := n.ApplyForwarded(r.Context(), peer, body)
		WriteForwardAnswer(w, resp, err)
	})
}

// WriteForwardAnswer writes ApplyForwarded's result as ProposeHandler does:
// 200 with resp, or err through the error table (DescribeError). A test that
// stands in for a leader answers with it.
func WriteForwardAnswer(w http.ResponseWriter, resp ForwardResponse, err error) {
	if err != nil {
		writeForwardError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// JoinHandler serves JoinPath: it decodes a JoinRequest, takes its token from
// the Authorization header, and answers HandleJoin's JoinResponse, or an
// error status with {"error": {"code", "message"}}.
func (n *Node) JoinHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if !decodePost(w, r, &req) {
			return
		}
		req.Token = BearerToken(r)
		resp, err := n.HandleJoin(r.Context(), req)
		if err != nil {
			// Never the token: only what was wrong with it.
			n.log.Warn("refused a join", "joiner", req.NodeID, "from", r.RemoteAddr, "err", err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// AddVoterHandler serves AddVoterPath for nodes only (PeerNode): a node
// admitted by a join asks to become a voter.
func (n *Node) AddVoterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := n.PeerNode(r)
		if err != nil {
			writeError(w, fmt.Errorf("%w: %s takes a node certificate of this cluster only: %v", ErrUnauthorized, AddVoterPath, err))
			return
		}
		var req AddVoterRequest
		if !decodePost(w, r, &req) {
			return
		}
		resp, err := n.HandleAddVoter(r.Context(), peer, r.Header.Get(ForwardedHeader), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// ClusterInfo is what ClusterHandler answers; the API's own cluster endpoint
// must carry at least ClusterID under the same name.
type ClusterInfo struct {
	ClusterID string     `json:"cluster_id"`
	NodeID    string     `json:"node_id"`
	Leader    LeaderInfo `json:"leader"`
}

// ClusterHandler serves ClusterPath with a ClusterInfo, for tests and for an
// API that has nothing more to say there.
func (n *Node) ClusterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := n.fsm.ClusterID()
		if err != nil {
			writeError(w, fmt.Errorf("%w: the state cannot be read: %v", ErrClosed, err))
			return
		}
		lid, lraft, lapi := n.Leader()
		writeJSON(w, http.StatusOK, ClusterInfo{
			ClusterID: id,
			NodeID:    n.cfg.NodeID,
			Leader:    LeaderInfo{NodeID: lid, RaftAddr: lraft, APIAddr: lapi},
		})
	})
}

// decodePost decodes the JSON body (at most 64 KiB) of a POST into v, or
// answers the error and returns false.
func decodePost(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, errUsePost)
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(v); err != nil {
		writeError(w, &CodedError{Code: CodeInvalid, Message: "node: undecodable request: " + err.Error()})
		return false
	}
	return true
}

// errorBody is the error answer of the join and cluster endpoints.
type errorBody struct {
	Error *fsm.Error `json:"error"`
}

var errUsePost = &CodedError{Code: CodeMethodNotAllowed, Message: "node: use POST"}

// writeError answers err through the error table.
func writeError(w http.ResponseWriter, err error) {
	e := DescribeError(err)
	writeJSON(w, e.Status, errorBody{Error: &fsm.Error{Code: fsm.Code(e.Code), Field: e.Field, Message: e.Message}})
}

// writeForwardError answers a forwarded write's node failure through the
// error table.
func writeForwardError(w http.ResponseWriter, err error) {
	e := DescribeError(err)
	writeJSON(w, e.Status, ForwardResponse{Error: &fsm.Error{Code: fsm.Code(e.Code), Field: e.Field, Message: e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

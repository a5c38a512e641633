package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/certctl/certctl/fsm"
)

// Error codes node puts on the wire. They are stable: peers act on them.
const (
	codeNotLeader      = "not_leader"
	codeNoLeader       = "no_leader"
	codeLeadershipLost = "leadership_lost"
	codeUnauthorized   = "unauthorized"
	codeForbidden      = "forbidden"
	codeUnavailable    = "unavailable"
	codeTimeout        = "timeout"
	codeTooLarge       = "too_large"
	codeInternal       = "internal"
)

// ErrorStatus maps an error of this package (or a domain *fsm.Error met on
// the way) to an HTTP status and a stable code, for the API's error table and
// the handlers below. Node errors all mean "try again elsewhere or later"
// (503) except ErrUnauthorized (401).
func ErrorStatus(err error) (status int, code string) {
	var domain *fsm.Error
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, codeUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, codeForbidden
	case errors.Is(err, ErrNoLeader):
		return http.StatusServiceUnavailable, codeNoLeader
	case errors.Is(err, ErrNotLeader):
		return http.StatusServiceUnavailable, codeNotLeader
	case errors.Is(err, ErrLeadershipLost):
		return http.StatusServiceUnavailable, codeLeadershipLost
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, codeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, codeTimeout
	case errors.As(err, &domain):
		switch domain.Code {
		case fsm.CodeInvalid:
			return http.StatusBadRequest, string(domain.Code)
		case fsm.CodeNotFound:
			return http.StatusNotFound, string(domain.Code)
		case fsm.CodeUnauthorized:
			return http.StatusUnauthorized, string(domain.Code)
		case fsm.CodeInternal:
			return http.StatusInternalServerError, string(domain.Code)
		case fsm.CodePolicy:
			return http.StatusUnprocessableEntity, string(domain.Code)
		default:
			return http.StatusConflict, string(domain.Code)
		}
	}
	return http.StatusInternalServerError, codeInternal
}

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
			writeForwardError(w, http.StatusMethodNotAllowed, string(fsm.CodeInvalid), "use POST")
			return
		}
		peer, err := n.PeerNode(r)
		if err != nil {
			writeForwardError(w, http.StatusUnauthorized, codeUnauthorized, "node: "+ProposePath+" takes a node certificate of this cluster only: "+err.Error())
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBytes))
		if err != nil {
			writeForwardError(w, http.StatusRequestEntityTooLarge, codeTooLarge, "node: forwarded command too large or unreadable: "+err.Error())
			return
		}
		resp, err := n.ApplyForwarded(r.Context(), peer, body)
		if err != nil {
			status, code := ErrorStatus(err)
			writeForwardError(w, status, code, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
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
			status, code := ErrorStatus(err)
			writeError(w, status, code, err.Error())
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
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "node: "+AddVoterPath+" takes a node certificate of this cluster only: "+err.Error())
			return
		}
		var req AddVoterRequest
		if !decodePost(w, r, &req) {
			return
		}
		resp, err := n.HandleAddVoter(r.Context(), peer, r.Header.Get(ForwardedHeader), req)
		if err != nil {
			status, code := ErrorStatus(err)
			writeError(w, status, code, err.Error())
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
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, err.Error())
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
		writeError(w, http.StatusMethodNotAllowed, string(fsm.CodeInvalid), "use POST")
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, string(fsm.CodeInvalid), "node: undecodable request: "+err.Error())
		return false
	}
	return true
}

// errorBody is the error answer of the join and cluster endpoints.
type errorBody struct {
	Error *fsm.Error `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: &fsm.Error{Code: fsm.Code(code), Message: msg}})
}

func writeForwardError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ForwardResponse{Error: &fsm.Error{Code: fsm.Code(code), Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

package api

// RouteInfo is one entry of the routes table as the tests outside the
// package see it: Access is the access level's name (access.String).
type RouteInfo struct {
	Method string
	Path   string
	Access string
}

// RoutesOf returns the routes table of s in its order.
func RoutesOf(s *Server) []RouteInfo {
	var out []RouteInfo
	for _, r := range s.routes() {
		out = append(out, RouteInfo{Method: r.method, Path: r.path, Access: r.access.String()})
	}
	return out
}

// TargetAnswer and IssuerAnswer are what an update that cleared secrets
// answers, for the wire parity test.
type (
	TargetAnswer = targetAnswer
	IssuerAnswer = issuerAnswer
)

// MaxImportBody is the body limit of an import batch.
const MaxImportBody = maxImportBody

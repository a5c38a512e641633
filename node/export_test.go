package node

import "context"

// RenewCertIfDue is renewCertIfDue for the tests of package node_test,
// which drive the node's clock rather than wait for the hourly check.
func (n *Node) RenewCertIfDue(ctx context.Context) error { return n.renewCertIfDue(ctx) }

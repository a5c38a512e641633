package node

import (
	"context"
	"crypto/ecdsa"
	"fmt"
)

// RenewCertIfDue is renewCertIfDue for the tests of package node_test,
// which drive the node's clock rather than wait for the hourly check.
func (n *Node) RenewCertIfDue(ctx context.Context) error { return n.renewCertIfDue(ctx) }

// SigningCAKeyBytes is the private scalar of the cluster CA's key, opened
// from the replicated state, for the tests that search files for it.
func (n *Node) SigningCAKeyBytes() ([]byte, error) {
	ca, err := n.signingCA()
	if err != nil {
		return nil, err
	}
	k, ok := ca.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("cluster CA key is %T", ca.Key)
	}
	return k.D.Bytes(), nil
}

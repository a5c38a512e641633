package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
)

func newCACommand(o *cliOptions) *cobra.Command {
	return newGroup("ca", "The cluster's own CA, which signs the nodes' certificates", newCABundleCommand(o))
}

func newCABundleCommand(o *cliOptions) *cobra.Command {
	var out, fingerprint string
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Fetch the cluster CA bundle, to trust the cluster's HTTPS certificates",
		Long: `Fetch the cluster CA bundle from GET /.well-known/pki/cluster-ca and write it
(PEM) to --out or to stdout; the SHA-256 fingerprint of each certificate
written goes to stderr. Give the file to the CLI (--ca-file, CERTCTL_CA_FILE)
and to agents (ca_bundle).

Trust is never assumed. Either the server's certificate verifies with
--ca-file, or --fingerprint names the CA: the SHA-256 of its certificate (DER,
hex) that the first node printed at bootstrap. With --fingerprint the bundle
must hold that CA and the server's certificate must be signed by it, or
nothing is written. Over plain http:// (a --dev node) only --fingerprint
can vouch for the bundle.`,
		Example: `  certctl --server https://10.0.0.1:8443 ca bundle --fingerprint 3f1c...e9 --out /etc/certctl/cluster-ca.pem
  certctl --server https://10.0.0.1:8443 --ca-file old-ca.pem ca bundle --out cluster-ca.pem`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			bundle, err := fetchBundle(ctx, inv, fingerprint)
			if err != nil {
				return err
			}
			certs, err := client.ParseBundle(bundle)
			if err != nil {
				return err
			}
			if out == "" {
				if _, err := inv.out.Write(bundle); err != nil {
					return err
				}
			} else {
				if err := writeFileAtomic(out, bundle, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				fmt.Fprintf(inv.errOut, "wrote the cluster CA bundle to %s\n", out)
			}
			for _, c := range certs {
				fmt.Fprintf(inv.errOut, "CA certificate %q: SHA-256 fingerprint %s\n", c.Subject.String(), client.Fingerprint(c))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the bundle to (mode 0644; default: stdout)")
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "SHA-256 of the cluster CA certificate (hex), as the first node printed it at bootstrap")
	return cmd
}

// fetchBundle gets the bundle the way the flags allow, or refuses saying
// what to give.
func fetchBundle(ctx context.Context, inv *invocation, fingerprint string) ([]byte, error) {
	if fingerprint != "" {
		pin, err := client.ParseFingerprint(fingerprint)
		if err != nil {
			return nil, usageError{fmt.Errorf("--fingerprint: %w", errors.New(strings.TrimPrefix(err.Error(), "certctl: ")))}
		}
		cfg := inv.cfg
		cfg.APIKey = "" // the route is public; no credential before trust
		bundle, err := client.FetchClusterCA(ctx, cfg, pin)
		if errors.Is(err, client.ErrFingerprintMismatch) {
			return nil, fmt.Errorf("%w\nnothing was written: check the fingerprint the first node printed, and that --server is a node of that cluster", err)
		}
		return bundle, err
	}
	for _, s := range inv.cfg.Servers {
		if u, err := url.Parse(s); err == nil && u.Scheme == "http" {
			return nil, usageError{fmt.Errorf("ca bundle over plain %s: nothing authenticates the server, so give --fingerprint SHA256 (the cluster CA's, printed by the first node at bootstrap)", s)}
		}
	}
	if inv.caFile == "" {
		return nil, usageError{errors.New("ca bundle needs a way to trust the server: --fingerprint SHA256 (the cluster CA's fingerprint, " +
			"printed by the first node at bootstrap) or --ca-file FILE (a CA bundle you already trust)")}
	}
	return inv.client.ClusterCA(ctx)
}

// writeFileAtomic writes data to path with mode perm through a file in the
// same directory renamed over it: a reader never sees half a bundle.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename: nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

package agent

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/certctl/certctl/connectors/issuer"
)

// KeyStore keeps the private keys this agent makes, one directory (0700)
// of PEM files (0600) named after their certificate ids. A certificate has
// at most two keys: the one in service (<id>.key, the original agent's
// name) and the one made for a renewal whose certificate is not deployed
// yet (<id>.next.key). A successful deployment promotes the next key over
// the current one, which deletes the previous key.
type KeyStore struct {
	dir string
}

// OpenKeyStore opens (making it if needed) the key directory dir. A
// directory that others may read is tightened to 0700, since keys are
// about to be written in it.
func OpenKeyStore(dir string) (*KeyStore, error) {
	if dir == "" {
		return nil, errors.New("agent: no key directory configured (key_dir)")
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: key directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: key directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("agent: key directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("agent: key directory %s is mode %04o and cannot be made 0700: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return &KeyStore{dir: dir}, nil
}

// Dir is the key directory.
func (s *KeyStore) Dir() string { return s.dir }

// CurrentPath and NextPath are the files of certificate certID's keys; the
// id must have passed CheckID.
func (s *KeyStore) CurrentPath(certID string) string { return filepath.Join(s.dir, certID+".key") }
func (s *KeyStore) NextPath(certID string) string    { return filepath.Join(s.dir, certID+".next.key") }

// MakeNext makes a key of keyType (empty: ECDSA-P256) for a renewal of
// certID and keeps it as the certificate's next key, replacing an earlier
// next key whose certificate never came.
func (s *KeyStore) MakeNext(certID, keyType string) (crypto.Signer, error) {
	if err := CheckID("certificate_id", certID); err != nil {
		return nil, err
	}
	key, err := issuer.GenerateKey(keyType, nil)
	if err != nil {
		return nil, fmt.Errorf("agent: key for certificate %s: %w", certID, err)
	}
	if err := s.write(s.NextPath(certID), key); err != nil {
		return nil, err
	}
	return key, nil
}

// StoreNext keeps a key the server made (key_generation "server") as the
// next key of certID.
func (s *KeyStore) StoreNext(certID string, keyPEM []byte) error {
	if err := CheckID("certificate_id", certID); err != nil {
		return err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("agent: the key the server made for certificate %s: %w", certID, err)
	}
	return s.write(s.NextPath(certID), key)
}

// KeyFor returns the file of certID's key that matches the public key of
// leaf, and whether it is the next key. A certificate matching neither key
// is refused: deploying it would break the service.
func (s *KeyStore) KeyFor(certID string, leaf *x509.Certificate) (path string, next bool, err error) {
	if err := CheckID("certificate_id", certID); err != nil {
		return "", false, err
	}
	for _, c := range []struct {
		path string
		next bool
	}{{s.NextPath(certID), true}, {s.CurrentPath(certID), false}} {
		ok, err := keyMatches(c.path, leaf)
		if err != nil {
			return "", false, err
		}
		if ok {
			return c.path, c.next, nil
		}
	}
	return "", false, fmt.Errorf("agent: certificate %s (serial %x) does not match the local key of %s in %s: "+
		"it was issued for another key (another agent, or a key lost since); renew the certificate so this agent makes a new one",
		certID, leaf.SerialNumber, certID, s.dir)
}

// Promote makes certID's next key its current one, deleting the previous
// key. Without a next key it does nothing (already promoted).
func (s *KeyStore) Promote(certID string) error {
	if err := CheckID("certificate_id", certID); err != nil {
		return err
	}
	err := os.Rename(s.NextPath(certID), s.CurrentPath(certID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: promote the new key of certificate %s: %w", certID, err)
	}
	return syncDir(s.dir)
}

// DiscardNext deletes certID's next key (its CSR was refused).
func (s *KeyStore) DiscardNext(certID string) error {
	if err := CheckID("certificate_id", certID); err != nil {
		return err
	}
	if err := os.Remove(s.NextPath(certID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *KeyStore) write(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("agent: encode key: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(block)
	return writeFileAtomic(path, block, 0o600)
}

func keyMatches(path string, leaf *x509.Certificate) (bool, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("agent: read key: %w", err)
	}
	defer clear(raw)
	key, err := parseKey(raw)
	if err != nil {
		return false, fmt.Errorf("agent: key file %s: %w", path, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(leaf.PublicKey), nil
}

// parseKey reads a PEM private key: PKCS#8, or the PKCS#1 and SEC 1 forms
// older tools write.
func parseKey(raw []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", key)
	}
	return signer, nil
}

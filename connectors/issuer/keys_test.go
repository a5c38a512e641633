package issuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKeyType(t *testing.T) {
	for in, want := range map[string]KeyType{
		"ECDSA-P256": KeyECDSAP256, "ecdsa-p256": KeyECDSAP256, "P-256": KeyECDSAP256, "p256": KeyECDSAP256,
		"ECDSA-P384": KeyECDSAP384, "P384": KeyECDSAP384,
		"RSA-2048": KeyRSA2048, "rsa2048": KeyRSA2048, "RSA_3072": KeyRSA3072, "rsa-4096": KeyRSA4096,
		"Ed25519": KeyEd25519, "ED25519": KeyEd25519,
	} {
		got, err := ParseKeyType(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "RSA-1024", "P-521", "DSA"} {
		_, err := ParseKeyType(in)
		assert.ErrorIs(t, err, ErrInvalidRequest, in)
	}
}

func TestGenerateKey_AndCSRFor(t *testing.T) {
	tests := []struct {
		keyType string
		check   func(t *testing.T, pub any)
	}{
		{"", func(t *testing.T, pub any) { assert.Equal(t, elliptic.P256(), pub.(*ecdsa.PublicKey).Curve) }},
		{"ECDSA-P384", func(t *testing.T, pub any) { assert.Equal(t, elliptic.P384(), pub.(*ecdsa.PublicKey).Curve) }},
		{"RSA-2048", func(t *testing.T, pub any) { assert.Equal(t, 2048, pub.(*rsa.PublicKey).N.BitLen()) }},
		{"RSA-3072", func(t *testing.T, pub any) { assert.Equal(t, 3072, pub.(*rsa.PublicKey).N.BitLen()) }},
		{"Ed25519", func(t *testing.T, pub any) { assert.IsType(t, ed25519.PublicKey{}, pub) }},
	}
	for _, tt := range tests {
		t.Run(tt.keyType, func(t *testing.T) {
			key, err := GenerateKey(tt.keyType, nil)
			require.NoError(t, err)
			tt.check(t, key.Public())

			text, err := CSRFor(key, "srv.example.com", []string{"alt.example.com", "10.9.8.7"})
			require.NoError(t, err)
			names, err := ParseNames("srv.example.com", []string{"alt.example.com", "10.9.8.7"})
			require.NoError(t, err)
			csr, err := VerifyCSR(text, "srv.example.com", names)
			require.NoError(t, err)
			assert.Equal(t, "srv.example.com", csr.Subject.CommonName)
			assert.Equal(t, []string{"srv.example.com", "alt.example.com"}, csr.DNSNames)
			require.Len(t, csr.IPAddresses, 1)
			assert.Equal(t, "10.9.8.7", csr.IPAddresses[0].String())
		})
	}
	_, err := GenerateKey("RSA-1024", nil)
	assert.ErrorIs(t, err, ErrInvalidRequest)
	key, err := GenerateKey("", nil)
	require.NoError(t, err)
	_, err = CSRFor(key, "", nil)
	assert.ErrorIs(t, err, ErrInvalidRequest)
}

func TestKeyTypeOf_NamesEveryTypeItMakes(t *testing.T) {
	for _, kt := range keyTypes {
		key, err := kt.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := KeyTypeOf(key.Public())
		if err != nil || got != kt {
			t.Errorf("KeyTypeOf(%s key) = %q, %v", kt, got, err)
		}
	}
	if _, err := KeyTypeOf("not a key"); err == nil {
		t.Error("KeyTypeOf of a string: no error")
	}
}

// Package secretspec holds what the target and issuer connectors share to
// declare the secret fields of their configs: the declaration of one type
// (Spec) and the declarations of every type by name (Table). It names
// fields only; it never sees a config's values.
package secretspec

// Package f5 is the F5 BIG-IP target: from a proxy agent it uploads the
// certificate, chain and key over iControl REST, installs them as new
// sys crypto objects named after the certificate's id and serial, and
// switches one client-ssl profile to them in a single transaction, keeping
// the profile's previous certKeyChain in the deployment's StateDir so that
// Rollback can switch it back. It authenticates only with a token from
// /mgmt/shared/authn/login, and the private key never leaves it except in
// the upload to the device: never in results, errors or logs.
package f5

// Package iis is the Windows IIS target: from a proxy agent it reaches the
// host over WinRM (WS-Management, SOAP 1.2, the WinRS cmd shell) with Basic
// authentication over HTTPS only; NTLM, Kerberos and CredSSP are not
// implemented. It imports the certificate, chain and key as a PKCS#12 under a
// one-time password into Cert:\LocalMachine\<store> and binds it to one https
// binding of one site, keeping the thumbprint it replaced in the deployment's
// StateDir for Rollback. It must never splice a config value into PowerShell
// code, nor put the private key in a result, an error or a log.
package iis

// Package iis is the Windows IIS target: from a proxy agent it talks to the
// Windows host over WinRM (WS-Management, SOAP 1.2, the WinRS shell of
// MS-WSMV) with Basic authentication over HTTPS, sends the certificate,
// chain and key as a PKCS#12 file under a one-time password, imports it into
// Cert:\LocalMachine\<store> and binds it to one https binding of one site,
// keeping the thumbprint it replaced in the deployment's StateDir for
// Rollback. NTLM, Kerberos and CredSSP are not implemented: the host needs
// Basic enabled on its HTTPS listener. Site names and binding information
// reach PowerShell only as single-quoted literals, and the private key
// never appears in results, errors or logs.
package iis

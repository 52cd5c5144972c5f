package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// runPKI writes, into --dir, everything the control plane needs to authenticate:
//
//	ca.crt ca.key                 cluster CA (also the kcm's cluster-signing pair)
//	apiserver.crt apiserver.key   serving cert for 127.0.0.1/localhost and the service IP
//	sa.key sa.pub                 service-account token signing key pair
//	admin.token                   static bearer token of the admin user (system:masters)
//	tokens.csv                    --token-auth-file for kube-apiserver
//
// With --node NAME --node-ip IP (the real node of FLUID_RS_REAL_NODE=1), the serving cert also
// covers IP, and the node's credentials are added (see writeNodePKI).
//
// Existing files are kept, so the command is idempotent.
func runPKI(args []string) int {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "output directory (required)")
	serviceIP := fs.String("service-ip", "10.0.0.1", "first IP of the service CIDR (kubernetes.default)")
	node := fs.String("node", "", "name of a real node to issue kubelet and kube-proxy credentials for")
	nodeIP := fs.String("node-ip", "", "address of the real node (and of the API server for it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "pki: --dir is required")
		return 2
	}
	if (*node == "") != (*nodeIP == "") {
		fmt.Fprintln(os.Stderr, "pki: --node and --node-ip go together")
		return 2
	}
	if err := writePKI(*dir, *serviceIP, *nodeIP); err != nil {
		fmt.Fprintf(os.Stderr, "pki: %v\n", err)
		return 1
	}
	if *node != "" {
		if err := writeNodePKI(*dir, *node, *nodeIP); err != nil {
			fmt.Fprintf(os.Stderr, "pki: %v\n", err)
			return 1
		}
	}
	return 0
}

func writePKI(dir, serviceIP, nodeIP string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	if exists(p("ca.crt")) && exists(p("apiserver.crt")) && exists(p("sa.pub")) && exists(p("tokens.csv")) {
		return nil
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fluid-rs-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP)},
	}
	if nodeIP != "" {
		srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, net.ParseIP(nodeIP))
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)

	files := []struct {
		name string
		data []byte
	}{
		{"ca.key", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(caKey))},
		{"ca.crt", pemBytes("CERTIFICATE", caDER)},
		{"apiserver.key", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(srvKey))},
		{"apiserver.crt", pemBytes("CERTIFICATE", srvDER)},
		{"sa.key", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey))},
		{"sa.pub", pemBytes("PUBLIC KEY", saPub)},
		{"admin.token", []byte(token + "\n")},
		// token,user,uid,"group1,group2"
		{"tokens.csv", []byte(token + ",admin,admin,\"system:masters\"\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(p(f.name), f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeNodePKI issues, with the CA of dir, the credentials of a real node:
//
//	kubelet.crt kubelet.key              client cert of the kubelet: system:node:<node> in
//	                                     system:nodes (Node authorizer)
//	kubelet-serving.crt kubelet-serving.key  the kubelet's serving cert (node name, node IP)
//	apiserver-kubelet-client.crt .key    the API server's client cert towards the kubelet (logs,
//	                                     exec, port-forward), in system:masters
//	kube-proxy.crt kube-proxy.key        client cert of kube-proxy: system:kube-proxy (bound to
//	                                     the system:node-proxier role by default)
func writeNodePKI(dir, node, nodeIP string) error {
	p := func(name string) string { return filepath.Join(dir, name) }
	if exists(p("kubelet.crt")) && exists(p("kubelet-serving.crt")) && exists(p("apiserver-kubelet-client.crt")) &&
		exists(p("kube-proxy.crt")) {
		return nil
	}
	caCert, caKey, err := loadCA(p("ca.crt"), p("ca.key"))
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	certs := []struct {
		name string
		tmpl x509.Certificate
	}{
		{"kubelet", x509.Certificate{
			Subject:     pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
			ExtKeyUsage: client,
		}},
		{"kubelet-serving", x509.Certificate{
			Subject:     pkix.Name{CommonName: node},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{node, "localhost"},
			IPAddresses: []net.IP{net.ParseIP(nodeIP), net.ParseIP("127.0.0.1")},
		}},
		{"apiserver-kubelet-client", x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
			ExtKeyUsage: client,
		}},
		{"kube-proxy", x509.Certificate{
			Subject:     pkix.Name{CommonName: "system:kube-proxy"},
			ExtKeyUsage: client,
		}},
	}
	for i, c := range certs {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		tmpl := c.tmpl
		tmpl.SerialNumber = big.NewInt(int64(100 + i))
		tmpl.NotBefore = now
		tmpl.NotAfter = now.Add(10 * 365 * 24 * time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if err := os.WriteFile(p(c.name+".key"), pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(p(c.name+".crt"), pemBytes("CERTIFICATE", der), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func loadCA(certPath, keyPath string) (*x509.Certificate, *rsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s holds no PEM block", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return cert, key, nil
}

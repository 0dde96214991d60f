package devenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WebhookClientCommonName is the common name of the client certificate the
// API server presents to webhooks, the one ipamguard-webhook's --client-cn
// accepts by default.
const WebhookClientCommonName = "kube-apiserver"

// File names in the directory writeWebhookClientAuth fills.
const (
	webhookClientCAFile     = "webhook-client-ca.crt"
	webhookClientKubeconfig = "webhook-client.kubeconfig"
	admissionConfigFile     = "admission-configuration.yaml"
)

// admissionConfiguration points both webhook admission plugins at the
// kubeconfig holding the API server's client certificate. The format is
// the one a cluster's kube-apiserver reads from
// --admission-control-config-file (docs/operations.md).
const admissionConfiguration = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
`

// writeWebhookClientAuth gives the API server a client certificate for
// calling webhooks, as a cluster whose webhook verifies its callers does:
// it writes into dir a CA, a client certificate that CA issued
// (WebhookClientCommonName, client authentication only), a kubeconfig
// naming it for every webhook ("*"), and the AdmissionConfiguration that
// points the webhook admission plugins at that kubeconfig. It returns the
// paths of the AdmissionConfiguration and of the CA certificate, which a
// webhook verifying its callers trusts. The CA's key is not kept.
func writeWebhookClientAuth(dir string) (admissionConfig, caFile string, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ipamguard-devenv webhook client CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("webhook client CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: WebhookClientCommonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("webhook client certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}

	kc := clientcmdapi.NewConfig()
	// "*" matches every webhook, whatever host and port envtest gives it.
	kc.AuthInfos["*"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		ClientKeyData:         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	kcData, err := clientcmd.Write(*kc)
	if err != nil {
		return "", "", fmt.Errorf("webhook client kubeconfig: %w", err)
	}
	kcPath := filepath.Join(dir, webhookClientKubeconfig)
	caFile = filepath.Join(dir, webhookClientCAFile)
	admissionConfig = filepath.Join(dir, admissionConfigFile)
	for _, f := range []struct {
		path string
		data []byte
	}{
		{kcPath, kcData},
		{caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{admissionConfig, fmt.Appendf(nil, admissionConfiguration, kcPath)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", "", fmt.Errorf("webhook client auth: %w", err)
		}
	}
	return admissionConfig, caFile, nil
}

// Command certs is `make certs`: it writes a CA and a serving certificate
// for the webhook Service's DNS names into a directory (certs/, whose keys
// git ignores), for installing without cert-manager and without
// self-managed certificates (config/README.md). It makes them with
// internal/selfcert, as the webhook's self-managed mode does.
package main

import (
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipamguard/ipamguard/internal/selfcert"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	out := fs.String("out", "certs", "directory to write ca.crt, ca.key, tls.crt and tls.key into")
	service := fs.String("service", "ipamguard-webhook-service", "the webhook Service's name")
	namespace := fs.String("namespace", "ipamguard-system", "the webhook Service's namespace")
	extra := fs.String("extra-sans", "", "comma-separated extra IP addresses and DNS names")
	caValidity := fs.Duration("cert-ca-validity", selfcert.DefaultCAValidity, "lifetime of the CA")
	validity := fs.Duration("cert-validity", selfcert.DefaultServingValidity, "lifetime of the serving certificate")
	force := fs.Bool("force", false, "replace existing files (a new CA: the caBundle must change too)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := selfcert.Policy{CAValidity: *caValidity, ServingValidity: *validity, Overlap: selfcert.MinOverlap}
	if err := p.Validate(); err != nil {
		return err
	}
	var sans []string
	for _, s := range strings.Split(*extra, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sans = append(sans, s)
		}
	}
	names := selfcert.ServiceNames(*service, *namespace, sans)
	files := []string{selfcert.CACertKey, selfcert.CAKeyKey, selfcert.CertKey, selfcert.KeyKey}
	if !*force {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(*out, f)); err == nil {
				return fmt.Errorf("%s exists; pass -force to replace it (and then update the caBundle)", filepath.Join(*out, f))
			} else if !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
		}
	}
	now := time.Now()
	pl, err := p.Plan(now, nil, names, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *out, err)
	}
	for _, f := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f, ".key") {
			mode = 0o600
		}
		path := filepath.Join(*out, f)
		if err := os.WriteFile(path, pl.Data[f], mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		// WriteFile keeps the mode of a file it replaces.
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s/{%s} for %s (serving certificate valid until %s)\n", *out, strings.Join(files, ","), names,
		now.Add(*validity).UTC().Format(time.DateOnly))
	fmt.Printf("caBundle: base64 -w0 %s\n", filepath.Join(*out, selfcert.CACertKey))
	return nil
}

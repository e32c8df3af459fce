// kube-apiserver for meshd's Kubernetes-mode tests: the real API server, built from the
// k8s.io/kubernetes module (the Go module proxy serves it; no binary download is needed).
// scripts/build-kube-tools builds it into .tools/ (git-ignored); kubectl/ is its kubectl.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}

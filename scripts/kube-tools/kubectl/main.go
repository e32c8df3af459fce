// kubectl of the same version as the tests' kube-apiserver (v1.37.2), from the k8s.io/kubectl module:
// the tests apply manifests and read printer columns with it as a user would.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}

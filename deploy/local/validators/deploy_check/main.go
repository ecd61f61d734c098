// Command deploy-check loads the deployment files with the libraries the real
// tools use, offline, and prints what those tools would act on:
//
//	deploy-check compose FILE    the project as `docker compose config --format json`
//	                             prints it (compose-go: schema, interpolation,
//	                             normalization, consistency checks)
//	deploy-check kustomize DIR   the resources `kubectl apply -k DIR` would apply
//	                             (kustomize's krusty), as a YAML stream
//
// Any error exits 1 with the loader's own message.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: deploy-check compose FILE | kustomize DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "compose":
		err = compose(os.Args[2])
	case "kustomize":
		err = kustomize(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// compose loads FILE as `docker compose -f FILE config` does, with no
// variables from the environment or a .env file, so the defaults written in
// the file are what is checked.
func compose(file string) error {
	options, err := cli.NewProjectOptions([]string{file}, cli.WithName("tastesync"))
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

// kustomize builds DIR with kubectl's default kustomize options.
func kustomize(dir string) error {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return err
	}
	out, err := resources.AsYaml()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

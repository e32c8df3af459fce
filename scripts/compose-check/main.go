// compose-check loads a docker-compose file with compose-go, the library Docker Compose
// itself loads files with (schema validation, interpolation, normalization, references
// between services), and prints the resulting project as JSON: what `docker compose config
// --format json` prints, on a machine without Docker. Exit 1 with compose-go's error.
//
//	compose-check <docker-compose.yaml>
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check <docker-compose.yaml>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(
		[]string{os.Args[1]},
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
	)
	if err == nil {
		project, loadErr := opts.LoadProject(context.Background())
		err = loadErr
		if err == nil {
			out, marshalErr := project.MarshalJSON()
			if err = marshalErr; err == nil {
				fmt.Println(string(out))
				return
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
	os.Exit(1)
}

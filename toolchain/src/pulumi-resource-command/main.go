// pulumi-resource-command: the `command` provider (local.Command, local.run and remote.Command)
// for drkit's toolchain. The upstream provider module (github.com/pulumi/pulumi-command/provider)
// is not published as a versioned Go module, so this reimplements part of its schema (tokens
// command:local:Command, command:local:run and command:remote:Command, same inputs and outputs)
// on pulumi-go-provider, the framework upstream uses. Not included: remote.CopyToRemote,
// remote.CopyFile, and local.Command's assetPaths/archivePaths.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi-go-provider/infer"

	"drkit.local/toolchain/pulumi-resource-command/local"
	"drkit.local/toolchain/pulumi-resource-command/remote"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "0.0.0-dev"

func main() {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("Command").
		WithDescription("Run local and remote (SSH) commands as part of the Pulumi resource model (drkit toolchain build).").
		WithKeywords("pulumi", "command", "category/utility", "kind/native").
		WithLicense("Apache-2.0").
		WithResources(infer.Resource(&local.Command{}), infer.Resource(&remote.Command{})).
		WithFunctions(infer.Function(&local.Run{})).
		Build()
	if err == nil {
		err = collapseNestedSecrets(prov).Run(context.Background(), "command", strings.TrimPrefix(Version, "v"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}

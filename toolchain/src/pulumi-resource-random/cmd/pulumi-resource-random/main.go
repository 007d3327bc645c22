// pulumi-resource-random: the bridged Terraform random provider (see ../../provider).
package main

import (
	"context"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"drkit.local/toolchain/pulumi-resource-random/provider"
)

func main() {
	pf.Main(context.Background(), "random", provider.Provider(), pf.ProviderMetadata{PackageSchema: provider.Schema})
}

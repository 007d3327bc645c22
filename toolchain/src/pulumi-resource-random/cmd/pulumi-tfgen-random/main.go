// pulumi-tfgen-random generates schema.json and bridge-metadata.json for the random provider.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"drkit.local/toolchain/pulumi-resource-random/provider"
)

func main() { tfgen.Main("random", provider.Provider()) }

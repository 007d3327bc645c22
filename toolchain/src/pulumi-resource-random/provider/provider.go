// Package provider maps the Terraform "random" provider (terraform-plugin-framework) to the
// Pulumi package "random", the way github.com/pulumi/pulumi-random does: every random_<x>
// resource becomes random:index/random<X>:Random<X>. The upstream provider module is not
// published as a versioned Go module, so drkit's toolchain bridges the same Terraform provider
// version itself; build.sh runs tfgen to produce schema.json and bridge-metadata.json next to
// this file before the provider binary is built.
package provider

import (
	"context"
	_ "embed"
	"errors"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is set with -ldflags "-X .../provider.Version=<version>".
var Version string

//go:embed schema.json
var Schema []byte

//go:embed bridge-metadata.json
var Metadata []byte

func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		Version:      Version,
		MetadataInfo: tfbridge.NewProviderMetadata(Metadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_string's schema v0 state is compatible with v1; upgrade it without the TF upgrader.
			"random_string": {PreStateUpgradeHook: func(a tfbridge.PreStateUpgradeHookArgs) (int64, resource.PropertyMap, error) {
				if a.PriorStateSchemaVersion == 0 {
					return 1, a.PriorState, nil
				}
				return a.PriorStateSchemaVersion, a.PriorState, nil
			}},
			// random_bytes has no id attribute; use its base64 value.
			"random_bytes": {ComputeID: bytesID},
		},
		JavaScript:                  &tfbridge.JavaScriptInfo{RespectSchemaVersion: true},
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	info.MustComputeTokens(tokens.SingleModule("random_", "index",
		func(module, name string) (string, error) { return tokens.MakeStandard("random")(module, "Random"+name) }))
	info.MustApplyAutoAliases()
	return info
}

func bytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes: no base64 property in state")
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", errors.New("random_bytes: base64 property is not a string")
	}
	return resource.ID(v.StringValue()), nil
}

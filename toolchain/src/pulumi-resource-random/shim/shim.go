// Package shim exposes the Terraform random provider. Its import path sits under
// github.com/terraform-providers/terraform-provider-random/ (build.sh gives it that module
// path), which is what lets it import the provider's internal package.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

func NewProvider() tfpf.Provider { return provider.New() }
